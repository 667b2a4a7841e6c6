global using Xunit;
global using MedAiNode.Testing;
global using Microsoft.Extensions.DependencyInjection;

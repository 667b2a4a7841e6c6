global using Xunit;
global using MedAiNode.Testing;

global using Xunit;
global using MedAiNode.Testing;
global using MedAiNode.Inference.Tests;

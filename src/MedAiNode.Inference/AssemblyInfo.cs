namespace MedAiNode.Inference;

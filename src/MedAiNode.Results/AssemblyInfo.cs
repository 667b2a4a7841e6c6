namespace MedAiNode.Results;

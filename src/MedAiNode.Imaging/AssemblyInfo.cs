namespace MedAiNode.Imaging;

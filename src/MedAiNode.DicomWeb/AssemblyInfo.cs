namespace MedAiNode.DicomWeb;

global using MedAiNode.Dicom;

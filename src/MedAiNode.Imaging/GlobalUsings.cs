global using MedAiNode.Dicom;
global using MedAiNode.Dicom.IO;

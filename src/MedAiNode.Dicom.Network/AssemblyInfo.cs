namespace MedAiNode.Dicom.Network;

namespace MedAiNode.Dicom.Codecs;

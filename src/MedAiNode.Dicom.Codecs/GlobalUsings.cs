// The codec families are used across the layer (registry, decoder, transcoder).
global using MedAiNode.Dicom.Codecs.Jpeg;
global using MedAiNode.Dicom.Codecs.Jpeg2000;
global using MedAiNode.Dicom.Codecs.JpegLs;
global using MedAiNode.Dicom.Codecs.Native;
global using MedAiNode.Dicom.Codecs.Pixels;
global using MedAiNode.Dicom.Codecs.Rle;

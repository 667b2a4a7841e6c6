// The host is the one assembly with a command line, and the DICOM types are everywhere in it.
global using System.CommandLine;
global using MedAiNode.Dicom;

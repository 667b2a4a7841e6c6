// What the whole network layer is built on: sockets and TLS streams, the DICOM encoding, the upper layer and DIMSE.
global using System.Net.Security;
global using System.Net.Sockets;
global using MedAiNode.Dicom.IO;
global using MedAiNode.Dicom.Network.Dimse;
global using MedAiNode.Dicom.Network.UpperLayer;

// What the whole network layer is built on: sockets, TLS streams and certificates, pooled buffers and big/little-endian
// reads of PDUs, the DICOM encoding, the upper layer and DIMSE.
global using System.Buffers;
global using System.Buffers.Binary;
global using System.Net.Security;
global using System.Net.Sockets;
global using System.Security.Cryptography.X509Certificates;
global using MedAiNode.Dicom.IO;
global using MedAiNode.Dicom.Network.Dimse;
global using MedAiNode.Dicom.Network.UpperLayer;

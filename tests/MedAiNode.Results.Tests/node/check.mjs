// Loads our SEG and TID 1500 SR the way the OHIF viewer does: dcmjs to parse, @cornerstonejs/adapters to place SEG
// frames on the source images (by Source Image Sequence, else geometry) and rebuild the labelmap.
// Usage: node check.mjs case.json   (written by the xunit test; holds the paths and what must come out)
import fs from 'node:fs';
import dcmjs from 'dcmjs';
import { generateToolState } from '@cornerstonejs/adapters/cornerstone/Segmentation_4X';

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const { DicomMessage, DicomMetaDictionary } = dcmjs.data;

function read(path) {
  const buf = fs.readFileSync(path);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const dicom = DicomMessage.readFile(ab, { untilTag: '7FE00010', includeUntilTagValue: false });
  const ds = DicomMetaDictionary.naturalizeDataset(dicom.dict);
  const meta = DicomMetaDictionary.naturalizeDataset(dicom.meta);
  // Some archives keep the SOP Instance UID only in the File Meta; viewers fall back to it too.
  ds.SOPInstanceUID = ds.SOPInstanceUID || meta.MediaStorageSOPInstanceUID;
  ds.SOPClassUID = ds.SOPClassUID || meta.MediaStorageSOPClassUID;
  return ds;
}

function fail(msg) { console.error('FAIL ' + msg); process.exit(1); }
function eq(actual, expected, what) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) fail(`${what}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}

// ---- source images as cornerstone metadata
const sources = spec.sources.map(read);
const imageIds = sources.map(s => 'medainode:' + s.SOPInstanceUID);
const byId = new Map(imageIds.map((id, i) => [id, sources[i]]));
const num = v => (Array.isArray(v) ? v : [v]).map(Number);
const metadataProvider = {
  get(type, imageId) {
    const s = byId.get(imageId);
    if (!s) return undefined;
    const iop = num(s.ImageOrientationPatient);
    const ps = num(s.PixelSpacing);
    switch (type) {
      case 'imagePlaneModule':
        return {
          rowCosines: iop.slice(0, 3), columnCosines: iop.slice(3, 6), imagePositionPatient: num(s.ImagePositionPatient),
          rowPixelSpacing: ps[0], columnPixelSpacing: ps[1], rows: s.Rows, columns: s.Columns, frameOfReferenceUID: s.FrameOfReferenceUID,
        };
      case 'generalSeriesModule': return { seriesInstanceUID: s.SeriesInstanceUID || spec.sourceSeriesUid };
      case 'generalImageModule': return { sopInstanceUID: s.SOPInstanceUID };
      case 'instance': return s;
      default: return undefined;
    }
  },
};

// ---- SEG through the adapter
const segBuf = fs.readFileSync(spec.seg);
const segAb = segBuf.buffer.slice(segBuf.byteOffset, segBuf.byteOffset + segBuf.byteLength);
const state = await generateToolState(imageIds, segAb, metadataProvider, { skipOverlapping: false, tolerance: 1e-3 });
const segments = state.segMetadata.data.filter(Boolean);
eq(segments.length, spec.expected.segments.length, 'segment count');
eq(segments.map(s => s.SegmentLabel), spec.expected.segments.map(s => s.label), 'segment labels');
eq(segments.map(s => s.SegmentNumber), spec.expected.segments.map(s => s.number), 'segment numbers');

// frame-to-source mapping: which segments the adapter put on each source image
for (let i = 0; i < imageIds.length; i++) {
  const uid = sources[i].SOPInstanceUID;
  const got = (state.segmentsOnFrame[i] || []).slice().sort((a, b) => a - b);
  eq(got, spec.expected.segmentsOnSource[uid] || [], `segments on ${uid}`);
}
// voxel counts of the rebuilt labelmap, per source image and segment
const sliceLength = sources[0].Rows * sources[0].Columns;
const labelmap = new Uint8Array(state.labelmapBufferArray[0]);
for (let i = 0; i < imageIds.length; i++) {
  const counts = {};
  for (let k = i * sliceLength; k < (i + 1) * sliceLength; k++) if (labelmap[k]) counts[labelmap[k]] = (counts[labelmap[k]] || 0) + 1;
  eq(counts, spec.expected.voxelCounts[sources[i].SOPInstanceUID] || {}, `voxel counts on ${sources[i].SOPInstanceUID}`);
}

// ---- SR: TID 1500 measurement groups as dcmjs gives them
const sr = read(spec.sr);
const name = item => item.ConceptNameCodeSequence ? [].concat(item.ConceptNameCodeSequence)[0].CodeMeaning : '';
const seq = v => (v === undefined ? [] : [].concat(v));
eq(name(sr), 'Imaging Measurement Report', 'SR root concept');
eq(seq(sr.ContentTemplateSequence)[0].TemplateIdentifier, '1500', 'SR template');
const imaging = seq(sr.ContentSequence).find(c => name(c) === 'Imaging Measurements');
const groups = seq(imaging.ContentSequence).map(g => {
  const out = { trackingUid: null, segment: null, values: {} };
  for (const c of seq(g.ContentSequence)) {
    if (name(c) === 'Tracking Unique Identifier') out.trackingUid = c.UID;
    if (name(c) === 'Referenced Segment') out.segment = seq(c.ReferencedSOPSequence)[0].ReferencedSegmentNumber;
    if (c.ValueType === 'NUM') {
      const mv = seq(c.MeasuredValueSequence)[0];
      out.values[name(c)] = [Number(mv.NumericValue), seq(mv.MeasurementUnitsCodeSequence)[0].CodeValue];
      // The coordinates a NUM is inferred from (a longest diameter's end points), in the source Frame of Reference.
      for (const s of seq(c.ContentSequence).filter(s => s.ValueType === 'SCOORD3D')) {
        if (s.RelationshipType !== 'INFERRED FROM') fail(`${name(c)}: SCOORD3D child with relationship ${s.RelationshipType}`);
        if (s.ReferencedFrameOfReferenceUID !== spec.frameOfReferenceUid) fail(`${name(c)}: SCOORD3D in frame of reference ${s.ReferencedFrameOfReferenceUID}`);
        const xyz = num(s.GraphicData);
        const length = Math.hypot(xyz[0] - xyz[3], xyz[1] - xyz[4], xyz[2] - xyz[5]);
        if (s.GraphicType === 'POLYLINE' && (xyz.length !== 6 || Math.abs(length - Number(mv.NumericValue)) > 0.051))
          fail(`${name(c)}: polyline of ${xyz.length / 3} points, length ${length}, value ${mv.NumericValue}`);
        out.values[name(c) + ' from'] = [s.GraphicType, ...xyz.map(v => Math.round(v * 100) / 100)];
      }
    }
    if (c.ValueType === 'SCOORD3D') {
      if (c.ReferencedFrameOfReferenceUID !== spec.frameOfReferenceUid) fail(`${name(c)}: frame of reference ${c.ReferencedFrameOfReferenceUID}`);
      out.values[name(c)] = [c.GraphicType, ...num(c.GraphicData).map(v => Math.round(v * 100) / 100)];
    }
  }
  return out;
});
eq(groups, spec.expected.groups, 'SR measurement groups');
console.log(`ok ${segments.length} segments, ${state.segmentsOnFrame.filter(f => f && f.length).length} source images with segments, ${groups.length} measurement groups`);

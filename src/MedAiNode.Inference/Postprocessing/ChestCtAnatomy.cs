using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;

namespace MedAiNode.Inference.Postprocessing;

/// <summary>What the anatomy step found, for the analysis notes.</summary>
public sealed record AnatomyReport(bool LungInFieldOfView, double BodyMl, double LeftLungMl, double RightLungMl, double AirwayMl, IReadOnlyList<string> Notes);

/// <summary>
/// The connectivity decisions a voxel-wise graph cannot make, on a CT in HU on the model's LPS grid (x towards the
/// patient's left, z superior):
/// <list type="bullet">
/// <item>Body: the patient only. Tissue opened by a few mm (drops tables, head-rests, cushions and cables), the largest
/// 3D component (and any nearly as large, such as an arm), then filled slice by slice: lungs and bowel gas inside it,
/// the air between the back and the table outside.</item>
/// <item>Lungs: 3D components of air enclosed by the body that look like aerated lung (mostly above -950 HU, where
/// bowel, stomach and sinus gas is nearly pure air) and are big or reach the top of the field of view (a lung base is
/// cut there; a gas pocket below the diaphragm is not). None: no lung in the field of view, whatever the series says.</item>
/// <item>Airway: the graph's central airway voxels connected to the top of the field of view (trachea, main bronchi).</item>
/// <item>Left/right: the two largest lung components; lungs touching at the front are eroded apart and grown back.</item>
/// <item>Each lung closed by about 1 cm and filled slice by slice, so vessels, juxta-pleural nodules and tumours inside
/// the lung boundary belong to the lung.</item>
/// </list>
/// </summary>
public static class ChestCtAnatomy
{
    private const float TissueHu = -500f;
    private const float AirHu = -400f;
    private const float PureAirHu = -950f;
    private const float BoneHu = 300f;

    public static AnatomyReport Apply(LabelVolume labels, Volume hu, AnatomySpec spec)
    {
        var d = labels.Dims;
        var data = hu.Data;
        var n = (int)d.Count;
        var voxelMl = labels.VoxelVolumeMm3 / 1000.0;
        double mm = Math.Min(hu.Spacing.X, Math.Min(hu.Spacing.Y, hu.Spacing.Z));
        int Vox(double lengthMm) => Math.Max(1, (int)Math.Round(lengthMm / mm));
        var notes = new List<string>();

        // Body.
        var tissue = new byte[n];
        for (var i = 0; i < n; i++) tissue[i] = data[i] > TissueHu ? (byte)1 : (byte)0;
        var opened = BoxMorphology.Dilate(BoxMorphology.Erode(tissue, d, Vox(4)), d, Vox(4));
        var comps = BinaryMorphology.Label(opened, d, Connectivity.Faces6);
        var body = new byte[n];
        if (comps.Count > 0)
        {
            // An arm beside the chest can be its own component; a table left after the opening is far smaller.
            var keep = comps.Sizes.Select((s, c) => c > 0 && s >= 0.1 * comps.Sizes[1]).ToArray();
            for (var i = 0; i < n; i++) body[i] = keep[comps.Labels[i]] ? (byte)1 : (byte)0;
            // Give back the skin the opening rounded off, but no more than that: a table touching the back stays out.
            var near = BoxMorphology.Dilate(body, d, Vox(4));
            for (var i = 0; i < n; i++) if (near[i] != 0 && tissue[i] != 0) body[i] = 1;
            BoxMorphology.FillHoles2D(body, d);
        }

        // Air enclosed by the body, as 3D components.
        var air = new byte[n];
        for (var i = 0; i < n; i++) air[i] = body[i] != 0 && data[i] < AirHu ? (byte)1 : (byte)0;
        // Components of the air's core: a lung base and the colon under the diaphragm often touch through a voxel or
        // two of partial volume, which one erosion step parts. Every air voxel then joins the core component it is
        // nearest to (through air), and only those of lung-like components are lung.
        var airCore = BoxMorphology.Erode(air, d, 1);
        var airComps = BinaryMorphology.Label(airCore, d, Connectivity.Faces6);
        var count = airComps.Count;
        var pure = new long[count + 1];
        var topZ = new bool[count + 1];
        var top = d.Z - 1 - Vox(4); // the top few mm of the field of view
        var plane = d.X * d.Y;
        for (var i = 0; i < n; i++)
        {
            var c = airComps.Labels[i];
            if (c == 0) continue;
            if (data[i] < PureAirHu) pure[c]++;
            if (i / plane >= top) topZ[c] = true;
        }
        var isLung = new bool[count + 1];
        for (var c = 1; c <= count; c++)
        {
            var ml = airComps.Sizes[c] * voxelMl;
            var pureFraction = (double)pure[c] / airComps.Sizes[c];
            isLung[c] = ml >= spec.MinLungMl && pureFraction < spec.MaxPureAirFraction && (topZ[c] || ml >= spec.LungWithoutTopMl);
        }
        var owner = GrowInto(airComps.Labels, air, d);
        var lungAir = new byte[n];
        for (var i = 0; i < n; i++) if (owner[i] > 0 && isLung[owner[i]]) lungAir[i] = 1;

        // Airway: the graph's airway voxels inside that air, connected to the top of the field of view.
        var airway = new byte[n];
        if (spec.Airway > 0)
        {
            for (var i = 0; i < n; i++) airway[i] = lungAir[i] != 0 && labels.Data[i] == spec.Airway ? (byte)1 : (byte)0;
            var ac = BinaryMorphology.Label(airway, d, Connectivity.Full26);
            Array.Clear(airway);
            if (ac.Count > 0)
            {
                var reachesTop = false;
                for (var i = top * plane; i < n && !reachesTop; i++) reachesTop = ac.Labels[i] == 1;
                if (reachesTop && ac.Sizes[1] * voxelMl >= 1)
                    for (var i = 0; i < n; i++) if (ac.Labels[i] == 1) airway[i] = 1;
            }
        }

        var lungs = new byte[n];
        long lungVoxels = 0;
        for (var i = 0; i < n; i++) if (lungAir[i] != 0 && airway[i] == 0) { lungs[i] = 1; lungVoxels++; }
        var side = new byte[n]; // 1 left, 2 right
        if (lungVoxels > 0) Split(lungs, body, d, side, notes);

        // Close and fill each lung: what lies inside its boundary belongs to it.
        var spacing = (hu.Spacing.X, hu.Spacing.Y, hu.Spacing.Z);
        for (byte s = 1; s <= 2; s++)
        {
            var mask = new byte[n];
            var any = false;
            for (var i = 0; i < n; i++) if (side[i] == s) { mask[i] = 1; any = true; }
            if (!any) continue;
            var closed = BallMorphology.Close(mask, d, spacing, spec.CloseMm);
            // Bone (ribs, spine) at the lung's edge is not the lung's, however deep the dent it makes.
            for (var i = 0; i < n; i++) if (closed[i] != 0 && body[i] != 0 && airway[i] == 0 && side[i] == 0 && data[i] < BoneHu) mask[i] = 1;
            BoxMorphology.FillHoles2D(mask, d);
            for (var i = 0; i < n; i++) if (mask[i] != 0 && side[i] == 0 && airway[i] == 0 && body[i] != 0) side[i] = (byte)(s + 2); // claimed by closing
        }
        // A voxel both closings claimed stays unclaimed (never both lungs); the rest join their lung.
        long left = 0, right = 0, airwayCount = 0, bodyCount = 0;
        var o = labels.Data;
        for (var i = 0; i < n; i++)
        {
            var s = side[i] > 2 ? (byte)(side[i] - 2) : side[i];
            byte label = 0;
            if (body[i] != 0) { label = (byte)spec.Body; bodyCount++; }
            if (airway[i] != 0 && spec.Airway > 0) { label = (byte)spec.Airway; airwayCount++; }
            else if (s == 1 && spec.LeftLung > 0) { label = (byte)spec.LeftLung; left++; }
            else if (s == 2 && spec.RightLung > 0) { label = (byte)spec.RightLung; right++; }
            o[i] = label;
        }
        var inView = lungVoxels > 0;
        if (!inView && (spec.LeftLung > 0 || spec.RightLung > 0))
            notes.Add("No lung in the field of view: no air enclosed by the body looks like aerated lung; no lung segments written.");
        return new AnatomyReport(inView, bodyCount * voxelMl, left * voxelMl, right * voxelMl, airwayCount * voxelMl, notes);
    }

    /// <summary>Each voxel of <paramref name="within"/> takes the id of the nearest seed through <paramref name="within"/> (0: none reaches it).</summary>
    private static int[] GrowInto(int[] seeds, byte[] within, Dims d)
    {
        var owner = new int[seeds.Length];
        var queue = new Queue<int>();
        for (var i = 0; i < seeds.Length; i++) if (seeds[i] > 0 && within[i] != 0) { owner[i] = seeds[i]; queue.Enqueue(i); }
        var plane = d.X * d.Y;
        while (queue.Count > 0)
        {
            var v = queue.Dequeue();
            var z = v / plane; var rem = v - z * plane; var y = rem / d.X; var x = rem - y * d.X;
            if (x > 0) Visit(v - 1, v);
            if (x < d.X - 1) Visit(v + 1, v);
            if (y > 0) Visit(v - d.X, v);
            if (y < d.Y - 1) Visit(v + d.X, v);
            if (z > 0) Visit(v - plane, v);
            if (z < d.Z - 1) Visit(v + plane, v);
        }
        return owner;

        void Visit(int u, int from)
        {
            if (within[u] == 0 || owner[u] != 0) return;
            owner[u] = owner[from];
            queue.Enqueue(u);
        }
    }

    /// <summary>
    /// Left and right lung: the two largest components when both are substantial; otherwise eroded until they part
    /// (lungs touching at the anterior junction) and grown back through the mask from those seeds. Whatever no seed
    /// reaches goes by the side of the body's midline it lies on.
    /// </summary>
    private static void Split(byte[] lungs, byte[] body, Dims d, byte[] side, List<string> notes)
    {
        var n = lungs.Length;
        double sx = 0, sn = 0;
        for (var i = 0; i < n; i++) if (body[i] != 0) { sx += i % d.X; sn++; }
        var midline = sn > 0 ? sx / sn : d.X / 2.0;

        Components? seeds = null;
        var mask = lungs;
        for (var k = 0; k <= 8; k++)
        {
            if (k > 0) mask = BoxMorphology.Erode(mask, d, 1);
            var c = BinaryMorphology.Label(mask, d, Connectivity.Faces6);
            if (c.Count == 0) break;
            if (c.Count >= 2 && c.Sizes[2] >= 0.15 * c.Sizes[1]) { seeds = c; if (k > 0) notes.Add($"Lungs touch: parted by {k} erosion step(s) and grown back."); break; }
        }
        if (seeds is not null)
        {
            // Which seed is left: the one whose centre lies further towards +x (patient left in LPS).
            double x1 = 0, x2 = 0; long n1 = 0, n2 = 0;
            for (var i = 0; i < n; i++)
            {
                if (seeds.Labels[i] == 1) { x1 += i % d.X; n1++; }
                else if (seeds.Labels[i] == 2) { x2 += i % d.X; n2++; }
            }
            int s1 = x1 / n1 > x2 / n2 ? 1 : 2, s2 = 3 - s1;
            var seedSides = new int[n];
            for (var i = 0; i < n; i++) seedSides[i] = seeds.Labels[i] switch { 1 => s1, 2 => s2, _ => 0 };
            // Geodesic growth through the lungs, one face-neighbour layer at a time, so each voxel joins the nearer seed.
            var grown = GrowInto(seedSides, lungs, d);
            for (var i = 0; i < n; i++) side[i] = (byte)grown[i];
        }
        for (var i = 0; i < n; i++)
            if (lungs[i] != 0 && side[i] == 0) side[i] = i % d.X > midline ? (byte)1 : (byte)2;
    }
}

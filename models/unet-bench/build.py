"""A realistically sized 3D U-Net with random weights, for speed benchmarks only (never for clinical output).

Same layout as MONAI's UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(16, 32, 64, 128, 256),
strides=(2, 2, 2, 2), num_res_units=2, norm=INSTANCE, act=PRELU): residual units of two 3x3x3 conv + instance norm
+ PReLU on the way down, transposed convolutions and one residual unit on the way up.
Usage: /usr/bin/python3 models/unet-bench/build.py OUT.onnx      (needs Debian's python3-torch and python3-onnx)
The module is importable (build.UNet) so the PyTorch side of the benchmark runs the very same network.
"""
import sys

import torch
import torch.nn as nn


def conv_block(cin, cout, stride, last=False):
    layers = [nn.Conv3d(cin, cout, 3, stride=stride, padding=1)]
    if not last:
        layers += [nn.InstanceNorm3d(cout, affine=False), nn.PReLU()]
    return nn.Sequential(*layers)


class ResidualUnit(nn.Module):
    def __init__(self, cin, cout, stride, subunits=2, last=False):
        super().__init__()
        units = []
        c = cin
        for i in range(subunits):
            units.append(conv_block(c, cout, stride if i == 0 else 1, last=last and i == subunits - 1))
            c = cout
        self.conv = nn.Sequential(*units)
        self.residual = nn.Conv3d(cin, cout, 3 if stride != 1 else 1, stride=stride, padding=1 if stride != 1 else 0) \
            if (stride != 1 or cin != cout) else nn.Identity()

    def forward(self, x):
        return self.conv(x) + self.residual(x)


class Up(nn.Module):
    def __init__(self, cin, cout, last):
        super().__init__()
        self.up = nn.Sequential(nn.ConvTranspose3d(cin, cout, 3, stride=2, padding=1, output_padding=1),
                                nn.InstanceNorm3d(cout, affine=False), nn.PReLU())
        self.res = ResidualUnit(cout, cout, 1, subunits=1, last=last)

    def forward(self, x):
        return self.res(self.up(x))


class UNet(nn.Module):
    def __init__(self, channels=(16, 32, 64, 128, 256), in_channels=1, out_channels=2):
        super().__init__()
        self.down = nn.ModuleList()
        c = in_channels
        for ch in channels[:-1]:
            self.down.append(ResidualUnit(c, ch, 2))
            c = ch
        self.bottom = ResidualUnit(c, channels[-1], 1)
        self.up = nn.ModuleList()
        # Each up level gets its skip concatenated, as MONAI's SkipConnection(cat) does.
        ups = list(channels[:-1])[::-1]
        cin = channels[-1] + channels[-2]
        for i, ch in enumerate(ups):
            out = ups[i + 1] if i + 1 < len(ups) else out_channels
            last = i + 1 == len(ups)
            self.up.append(Up(cin, out, last))
            cin = out * 2 if not last else None
            if i + 2 < len(ups) + 1 and not last:
                cin = out + ups[i + 1]

    def forward(self, x):
        skips = []
        for d in self.down:
            x = d(x)
            skips.append(x)
        x = self.bottom(x)
        for i, u in enumerate(self.up):
            x = torch.cat([x, skips[-1 - i]], dim=1) if i < len(skips) else x
            x = u(x)
        return x


def build(out):
    torch.manual_seed(0)
    model = UNet().eval()
    x = torch.randn(1, 1, 96, 96, 96)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, 2, 96, 96, 96), y.shape
    torch.onnx.export(model, x, out, input_names=["input"], output_names=["output"], opset_version=13,
                      dynamic_axes={"input": {0: "n"}, "output": {0: "n"}})
    return model


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "unet-bench.onnx"
    m = build(path)
    print(path, sum(p.numel() for p in m.parameters()), "parameters")

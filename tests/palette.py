"""The report's colours under colour-vision deficiencies: every pair of series colours (and of
the stacked budget-holder colours, and the two-way saving/extra-cost pair) must stay apart when
deuteranopia, protanopia and tritanopia are simulated, so that no two series collapse into one.

Simulation: Machado, Oliveira and Fernandes (2009), "A physiologically-based model for
simulation of color vision deficiency", IEEE TVCG 15(6), severity 1.0 matrices, applied to
linear sRGB. Distance: CIEDE2000 between the simulated colours in CIELAB (D65). A difference
above about 10 is clear at a glance on a chart; the threshold below is that.
Usage: python3 tests/palette.py SOURCE_DIR"""
import math
import os
import sys

sys.path.insert(0, os.path.join(sys.argv[1] if len(sys.argv) > 1 else ".", "scripts"))
import report_draw  # noqa: E402

MACHADO = {
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}
THRESHOLD = 10.0


def linear(hex_colour):
    c = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    return [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in c]


def lab(rgb):
    rgb = [min(1.0, max(0.0, v)) for v in rgb]
    m = [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
         [0.0193339, 0.1191920, 0.9503041]]
    xyz = [sum(m[i][j] * rgb[j] for j in range(3)) for i in range(3)]
    white = (0.95047, 1.0, 1.08883)
    f = [(t / w) ** (1 / 3) if t / w > 216 / 24389 else (24389 / 27 * t / w + 16) / 116
         for t, w in zip(xyz, white)]
    return (116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2]))


def ciede2000(a, b):
    L1, a1, b1 = a
    L2, a2, b2 = b
    C1, C2 = math.hypot(a1, b1), math.hypot(a2, b2)
    Cm = (C1 + C2) / 2
    G = 0.5 * (1 - math.sqrt(Cm ** 7 / (Cm ** 7 + 25 ** 7)))
    a1p, a2p = (1 + G) * a1, (1 + G) * a2
    C1p, C2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360
    h2p = math.degrees(math.atan2(b2, a2p)) % 360
    dLp, dCp = L2 - L1, C2p - C1p
    dh = h2p - h1p
    if C1p * C2p == 0:
        dh = 0
    elif dh > 180:
        dh -= 360
    elif dh < -180:
        dh += 360
    dHp = 2 * math.sqrt(C1p * C2p) * math.sin(math.radians(dh / 2))
    Lm, Cmp = (L1 + L2) / 2, (C1p + C2p) / 2
    if C1p * C2p == 0:
        hm = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        hm = (h1p + h2p) / 2
    else:
        hm = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    T = (1 - 0.17 * math.cos(math.radians(hm - 30)) + 0.24 * math.cos(math.radians(2 * hm))
         + 0.32 * math.cos(math.radians(3 * hm + 6)) - 0.20 * math.cos(math.radians(4 * hm - 63)))
    dtheta = 30 * math.exp(-(((hm - 275) / 25) ** 2))
    Rc = 2 * math.sqrt(Cmp ** 7 / (Cmp ** 7 + 25 ** 7))
    Sl = 1 + 0.015 * (Lm - 50) ** 2 / math.sqrt(20 + (Lm - 50) ** 2)
    Sc, Sh = 1 + 0.045 * Cmp, 1 + 0.015 * Cmp * T
    Rt = -math.sin(math.radians(2 * dtheta)) * Rc
    return math.sqrt((dLp / Sl) ** 2 + (dCp / Sc) ** 2 + (dHp / Sh) ** 2
                     + Rt * (dCp / Sc) * (dHp / Sh))


def simulate(hex_colour, matrix):
    rgb = linear(hex_colour)
    return lab([sum(matrix[i][j] * rgb[j] for j in range(3)) for i in range(3)])


def main():
    sets = {"series": report_draw.SERIES, "stacks": report_draw.STACK,
            "saving/extra cost": [report_draw.SAVING, report_draw.EXTRA]}
    failed = checked = 0
    for vision, matrix in [("normal", [[1, 0, 0], [0, 1, 0], [0, 0, 1]])] + list(MACHADO.items()):
        for name, colours in sets.items():
            worst = (float("inf"), None)
            for i in range(len(colours)):
                for j in range(i + 1, len(colours)):
                    d = ciede2000(simulate(colours[i], matrix), simulate(colours[j], matrix))
                    checked += 1
                    worst = min(worst, (d, (colours[i], colours[j])))
                    if d < THRESHOLD:
                        failed += 1
                        print("FAILED: %s, %s: %s and %s differ by %.1f" % (
                            vision, name, colours[i], colours[j], d))
            print("%-12s %-18s closest pair %s %s: CIEDE2000 %.1f" % (
                vision, name, worst[1][0], worst[1][1], worst[0]))
    print("palette: %d passed, %d failed" % (checked - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

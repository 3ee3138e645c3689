"""Renders `tmux capture-pane -e -p` output (text with ANSI SGR colours) to a PNG, so the README's
screenshots are pictures of the real program. Needs Pillow and DejaVu Sans Mono.

    python3 ansi2png.py capture.ansi out.png
"""
import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
SIZE = 14
BG, FG = (24, 26, 33), (215, 218, 224)
BASIC = [(0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16), (36, 114, 200), (188, 63, 188), (17, 168, 205), (229, 229, 229),
         (102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67), (59, 142, 234), (214, 112, 214), (41, 184, 219), (255, 255, 255)]


def xterm(n):
    if n < 16:
        return BASIC[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


def parse(line):
    cells, st = [], {"fg": None, "bg": None, "bold": False, "rev": False, "dim": False}
    for tok in re.split(r"(\x1b\[[0-9;]*m)", line):
        if tok.startswith("\x1b["):
            codes = [int(c) if c else 0 for c in tok[2:-1].split(";")] or [0]
            i = 0
            while i < len(codes):
                c = codes[i]
                if c == 0:
                    st = {"fg": None, "bg": None, "bold": False, "rev": False, "dim": False}
                elif c == 1:
                    st["bold"] = True
                elif c == 2:
                    st["dim"] = True
                elif c == 7:
                    st["rev"] = True
                elif c in (22,):
                    st["bold"] = st["dim"] = False
                elif c == 27:
                    st["rev"] = False
                elif 30 <= c <= 37:
                    st["fg"] = BASIC[c - 30]
                elif 90 <= c <= 97:
                    st["fg"] = BASIC[c - 90 + 8]
                elif 40 <= c <= 47:
                    st["bg"] = BASIC[c - 40]
                elif 100 <= c <= 107:
                    st["bg"] = BASIC[c - 100 + 8]
                elif c == 39:
                    st["fg"] = None
                elif c == 49:
                    st["bg"] = None
                elif c in (38, 48) and i + 1 < len(codes):
                    key = "fg" if c == 38 else "bg"
                    if codes[i + 1] == 5 and i + 2 < len(codes):
                        st[key] = xterm(codes[i + 2])
                        i += 2
                    elif codes[i + 1] == 2 and i + 4 < len(codes):
                        st[key] = tuple(codes[i + 2:i + 5])
                        i += 4
                i += 1
        else:
            for ch in tok:
                cells.append((ch, dict(st)))
    return cells


def main(src, dst):
    lines = open(src, encoding="utf-8", errors="replace").read().rstrip("\n").split("\n")
    font, bold = ImageFont.truetype(FONT, SIZE), ImageFont.truetype(BOLD, SIZE)
    w = int(font.getlength("M"))
    h = SIZE + 4
    cols = max(len(parse(l)) for l in lines)
    img = Image.new("RGB", (cols * w + 16, len(lines) * h + 16), BG)
    d = ImageDraw.Draw(img)
    for y, line in enumerate(lines):
        for x, (ch, st) in enumerate(parse(line)):
            fg, bg = st["fg"] or FG, st["bg"] or BG
            if st["rev"]:
                fg, bg = bg, fg
            if st["dim"]:
                fg = tuple(int(c * 0.6 + b * 0.4) for c, b in zip(fg, bg))
            px, py = 8 + x * w, 8 + y * h
            if bg != BG:
                d.rectangle([px, py, px + w, py + h], fill=bg)
            if ch != " ":
                d.text((px, py + 1), ch, font=bold if st["bold"] else font, fill=fg)
    img.save(dst)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

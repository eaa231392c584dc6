# ocr_pages.py OUT.npy N H W SEED — N text-like pages (N,3,H,W) for PaddleOCR's models, normalized
# as PaddleOCR feeds them ((x/255 - mean) / std, ImageNet statistics): lines of capitals drawn
# from a 5x7 bitmap font (no font package needed) at 3x, dark ink on a light, noisy background.
# Random stripes hold no text, and a detector's map then stays near 0 everywhere; pages like
# these make the det map fire where the words are, the rec model read characters and the cls
# model decide an orientation, so that INT8 is measured on what the models are for.
import sys
import numpy as np

GLYPHS = {
    'A': "01110 10001 10001 11111 10001 10001 10001", 'D': "11110 10001 10001 10001 10001 10001 11110",
    'E': "11111 10000 10000 11110 10000 10000 11111", 'H': "10001 10001 10001 11111 10001 10001 10001",
    'L': "10000 10000 10000 10000 10000 10000 11111", 'N': "10001 11001 10101 10011 10001 10001 10001",
    'O': "01110 10001 10001 10001 10001 10001 01110", 'R': "11110 10001 10001 11110 10100 10010 10001",
    'T': "11111 00100 00100 00100 00100 00100 00100", 'W': "10001 10001 10001 10101 10101 10101 01010",
}


def page(h, w, seed, scale=3):
    r = np.random.default_rng(seed)
    img = np.full((h, w), r.uniform(0.85, 1.0))
    y = int(r.integers(2, 10))
    while y + 7 * scale + 2 < h:
        x = int(r.integers(2, 20))
        for ch in r.choice(list(GLYPHS), size=int(r.integers(3, 9))):
            if x + 5 * scale >= w:
                break
            g = np.array([[c == '1' for c in row] for row in GLYPHS[ch].split()])
            img[y:y + 7 * scale, x:x + 5 * scale][np.kron(g, np.ones((scale, scale))) > 0] = r.uniform(0, 0.2)
            x += 6 * scale + (6 * scale if r.random() < 0.15 else 0)
        y += int(7 * scale * r.uniform(1.6, 2.5))
    img += r.normal(0, 0.02, img.shape)
    mean = np.array([0.485, 0.456, 0.406])[:, None, None]
    std = np.array([0.229, 0.224, 0.225])[:, None, None]
    return ((np.stack([img] * 3) - mean) / std).astype(np.float32)


if __name__ == "__main__":
    out, n, h, w, seed = sys.argv[1], *map(int, sys.argv[2:6])
    np.save(out, np.stack([page(h, w, seed + k) for k in range(n)]))

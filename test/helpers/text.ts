/** Finds text lines on a terminal picture: bands of rows that have pixels unlike the background. */
export interface Line {
  top: number;
  bottom: number; // exclusive
  left: number;
  right: number; // exclusive
}

export function inkLines(fb: Buffer, width: number, height: number, bg: number, maxX = width): Line[] {
  const lines: Line[] = [];
  let cur: Line | null = null;
  for (let y = 0; y < height; y++) {
    let left = -1;
    let right = -1;
    for (let x = 0; x < maxX; x++) {
      if ((fb.readUInt32LE((y * width + x) * 4) & 0xffffff) !== bg) {
        if (left < 0) left = x;
        right = x + 1;
      }
    }
    if (left >= 0) {
      if (!cur) cur = { top: y, bottom: y + 1, left, right };
      else {
        cur.bottom = y + 1;
        cur.left = Math.min(cur.left, left);
        cur.right = Math.max(cur.right, right);
      }
    } else if (cur) {
      lines.push(cur);
      cur = null;
    }
  }
  if (cur) lines.push(cur);
  return lines;
}

/** True if the pixels of `a` appear exactly at `b` shifted by (dx, dy). */
export function sameRegion(fb: Buffer, width: number, r: Line, dx: number, dy: number): boolean {
  for (let y = r.top; y < r.bottom; y++) {
    const s = (y * width + r.left) * 4;
    const d = ((y + dy) * width + r.left + dx) * 4;
    if (fb.compare(fb, d, d + (r.right - r.left) * 4, s, s + (r.right - r.left) * 4) !== 0) return false;
  }
  return true;
}

/**
 * Which epoch marks of a learning curve get a label: every one while they stand far enough apart, else
 * every 2nd, 5th, 10th, 20th, 50th, ... (the stride of an axis's ticks), so that labels never overlap however
 * many epochs have run. `positions` are the marks' x in pixels (ascending); `minGap` the width of a label
 * plus its margin. Returns the indices of the marks to label (epoch i + 1 for index i).
 */
export function labelledEpochs(positions: readonly number[], minGap: number): number[] {
  if (positions.length === 0) return [];
  for (const stride of strides()) {
    // Labels on epochs stride, 2 stride, ... (epoch 1 when the stride is 1).
    const chosen: number[] = [];
    for (let i = stride - 1; i < positions.length; i += stride) chosen.push(i);
    if (chosen.length === 0) return [];
    let ok = true;
    for (let k = 1; k < chosen.length && ok; k++) ok = positions[chosen[k]!]! - positions[chosen[k - 1]!]! >= minGap;
    if (ok) return chosen;
  }
  return [];
}

function* strides(): Generator<number> {
  for (let decade = 1; decade < 1e9; decade *= 10) for (const m of [1, 2, 5]) yield m * decade;
}

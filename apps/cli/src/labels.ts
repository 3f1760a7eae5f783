import { dirname, join } from 'node:path';
import { DataError, MAX_CLASSES } from '@rbmjs/core';
import { mnistPath, openCsv, openIdx } from './data.js';

/** Class labels for `rbm train --labels` and `rbm predict`: read, located in their files, counted and checked. */

export function mnistLabelsPath(split: 'train' | 'test'): string {
  return join(dirname(mnistPath(split)), split === 'train' ? 'train-labels-idx1-ubyte' : 't10k-labels-idx1-ubyte');
}

/** Class labels and where they came from: `locate(row)` names a label's place in its file (`line 11`). */
export interface Labels {
  readonly labels: Int32Array;
  readonly source: string;
  /** The file's own words for label `row` (0-based): `line 11` (CSV), `item 11` (IDX). */
  locate(row: number): string;
  /** The label's value as read, for messages. */
  text(row: number): string;
}

/**
 * Class labels, one per example: MNIST's (`mnist`), or an IDX file of one value per row, or a CSV file of one
 * column. Labels must be whole numbers >= 0 in decimal form; there must be exactly `dataRows` of them (the
 * rows of the data file before --limit), and the first `rows` are used.
 */
export function readLabels(name: string, split: 'train' | 'test', rows: number, dataRows = rows): Labels {
  const path = name === 'mnist' ? mnistLabelsPath(split) : name;
  const reader = /\.csv$/i.test(path) ? openCsv(path) : openIdx(path);
  const shown = name === 'mnist' ? `mnist:${split} labels` : path;
  try {
    if (reader.cols !== 1) throw new DataError(`${path}: labels need one value per row, the file has ${reader.cols}`);
    if (reader.rows !== dataRows)
      throw new DataError(
        `${path}: ${reader.rows} labels for ${dataRows} examples${reader.rows > dataRows ? ' (more labels than examples: is it the right file?)' : ''}`,
      );
    const labels = new Int32Array(rows);
    const one = new Float64Array(1);
    // Unsigned-byte IDX values are read scaled to [0, 1]: labels are the bytes themselves.
    const scale = reader.defaultBinarize === 'threshold' ? 255 : 1;
    const where = (r: number) => (reader.text ? reader.locate(r, 0).replace(/, column 1$/, '') : `item ${r + 1}`);
    const text = (r: number) => {
      if (reader.text) return reader.text(r, 0);
      reader.read(r, one, 0);
      return String(Math.round(one[0]! * scale * 1e6) / 1e6);
    };
    for (let r = 0; r < rows; r++) {
      reader.read(r, one, 0);
      const v = one[0]! * scale;
      const x = Math.round(v);
      if (!(Math.abs(v - x) < 1e-9) || x < 0 || x > 2 ** 31 - 1)
        throw new DataError(`${path}: ${where(r)}: label ${text(r)} is not a whole number in 0..${2 ** 31 - 1}`, {
          row: r,
        });
      labels[r] = x;
    }
    // Accepted labels are whole numbers: their decimal form is the value read (the file is closed by now).
    return { labels, source: shown, locate: where, text: (r) => String(labels[r]) };
  } finally {
    reader.close();
  }
}

/**
 * The number of classes the labels ask for without --classes: the largest label + 1 (at least 2), unless
 * that label stands far beyond the others (a typo: 5000 among 0..3 would make 5001 classes), which is refused
 * naming its line. "Far": more than twice the distinct labels seen, plus 10.
 */
export function classesOf(labels: Labels, flag = '--classes'): number {
  const distinct = new Set(labels.labels);
  let top = 0;
  for (let r = 0; r < labels.labels.length; r++) if (labels.labels[r]! > labels.labels[top]!) top = r;
  const max = labels.labels[top] ?? 0;
  const classes = Math.max(2, max + 1);
  const bound = 2 * distinct.size + 10;
  if (classes > bound) {
    const others = [...distinct].filter((y) => y !== max).sort((a, b) => a - b);
    throw new DataError(
      `${labels.source}: ${labels.locate(top)}: label ${labels.text(top)} is far beyond the others (${others.length} other distinct labels, ${others[0] ?? '-'}..${others.at(-1) ?? '-'}): it would make ${classes} classes; ${classes <= MAX_CLASSES ? `give ${flag} ${classes} if that many are meant` : `more than the ${MAX_CLASSES} a classifier may have`}`,
      { row: top, value: max },
    );
  }
  return classes;
}

/** Checks labels against a class count, naming the label's place in its file. */
export function checkClassLabels(labels: Labels, classes: number, flag: string): void {
  for (let r = 0; r < labels.labels.length; r++) {
    if (labels.labels[r]! >= classes)
      throw new DataError(
        `${labels.source}: ${labels.locate(r)}: label ${labels.text(r)} is not one of the ${classes} classes 0..${classes - 1} (${flag})`,
        { row: r, value: labels.labels[r]! },
      );
  }
}

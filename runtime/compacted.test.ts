import { describe, expect, it } from 'vitest';
import { ReadPositions } from './compacted.ts';

const offsets = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ({ offset: String(from + i) }));

describe('ReadPositions: a reference reader never applies a record twice', () => {
  it('passes every message of a partition read for the first time', () => {
    expect(new ReadPositions().unread('ref.plans', 0, offsets(0, 4)).map((m) => m.offset)).toEqual(['0', '1', '2', '3', '4']);
  });

  it('after a rejoin reads a partition again from its start, only what follows the last applied offset passes', () => {
    const positions = new ReadPositions();
    positions.advance('ref.plans', 0, '4');
    expect(positions.unread('ref.plans', 0, offsets(0, 6)).map((m) => m.offset)).toEqual(['5', '6']);
    expect(positions.unread('ref.plans', 0, offsets(0, 3))).toEqual([]);
  });

  it('keeps partitions and topics apart, and never moves back', () => {
    const positions = new ReadPositions();
    positions.advance('ref.plans', 0, '9');
    positions.advance('ref.plans', 0, '2');
    expect(positions.unread('ref.plans', 0, offsets(8, 11)).map((m) => m.offset)).toEqual(['10', '11']);
    expect(positions.unread('ref.plans', 1, offsets(0, 1)).map((m) => m.offset)).toEqual(['0', '1']);
    expect(positions.unread('ref.numbers', 0, offsets(0, 1)).map((m) => m.offset)).toEqual(['0', '1']);
  });
});

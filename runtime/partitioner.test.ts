import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { cachedDefaultPartitioner, partitionOfKey } from './kafka.ts';

const { Partitioners } = kafkajs;

describe('cachedDefaultPartitioner', () => {
  it('puts every key where kafkajs default partitioner puts it, for any partition count, repeated or not', () => {
    const cached = cachedDefaultPartitioner();
    const reference = Partitioners.DefaultPartitioner();
    for (const count of [1, 3, 6, 12]) {
      const partitionMetadata = Array.from({ length: count }, (_, i) => ({ partitionId: i, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 }));
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 2_000; i++) {
          const message = { key: `acct-${i}`, value: null };
          expect(cached({ topic: 't', partitionMetadata, message })).toBe(reference({ topic: 't', partitionMetadata, message }));
        }
      }
    }
  });

  it('honours an explicit partition and spreads keyless messages', () => {
    const cached = cachedDefaultPartitioner();
    const partitionMetadata = Array.from({ length: 6 }, (_, i) => ({ partitionId: i, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 }));
    expect(cached({ topic: 't', partitionMetadata, message: { key: 'a', value: null, partition: 4 } })).toBe(4);
    const seen = new Set(Array.from({ length: 12 }, () => cached({ topic: 't', partitionMetadata, message: { key: null, value: null } })));
    expect(seen.size).toBeGreaterThan(1);
  });
});

describe('cachedDefaultPartitioner with keys that never repeat', () => {
  it('still agrees with the default after it stops caching them', () => {
    const cached = cachedDefaultPartitioner();
    const reference = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 6 }, (_, i) => ({ partitionId: i, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 }));
    for (let i = 0; i < 25_000; i++) {
      const message = { key: `src/cdr-${i}`, value: null };
      expect(cached({ topic: 'cdr.accepted', partitionMetadata, message })).toBe(reference({ topic: 'cdr.accepted', partitionMetadata, message }));
    }
  });
});

describe('partitionOfKey', () => {
  it('is the partition the producers put a key on, for any partition count', () => {
    const reference = Partitioners.DefaultPartitioner();
    for (const count of [1, 6, 12]) {
      const partitionMetadata = Array.from({ length: count }, (_, i) => ({ partitionId: i, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 }));
      for (let i = 0; i < 500; i++) expect(partitionOfKey('usage.resolved', `acct-${i}`, count)).toBe(reference({ topic: 'usage.resolved', partitionMetadata, message: { key: `acct-${i}`, value: null } }));
    }
  });
});

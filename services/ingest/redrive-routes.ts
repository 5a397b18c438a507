import type { FastifyInstance } from 'fastify';
import type { Kafka } from 'kafkajs';
import { answer, arrayOf, counts, integer, nullable, object, text } from '../../runtime/json-schema.ts';
import { redriveDeadLetters } from '../../runtime/dead-letters.ts';
import { redriveRejections } from '../../runtime/redrive.ts';
import { HttpError, principalOf, problemAnswer, problemResponses, send } from '../../runtime/http.ts';
import type { AvroSerde } from '../../runtime/serde.ts';

export interface RedriveDeps {
  kafka: Kafka;
  serde: AvroSerde;
}

const refs = { type: 'array', minItems: 1, maxItems: 500, items: { type: 'string', pattern: '^[0-9]+:[0-9]+$' }, description: 'Records as `<partition>:<offset>`' } as const;

/**
 * Redrive over HTTP, for the console: the records a person picked go back to the stage that
 * rejected (or dead-lettered) them, once the cause is fixed. Ingest offers it because re-entry
 * into the pipeline is an entry; each call is in ingest's audit trail with the key's id. A
 * brand's key sends back only records carrying its brand; one with no brand yet (an unknown
 * number) needs the parent's key.
 */
export function redriveRoutes(deps: RedriveDeps): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.post<{ Body: { refs: string[]; dryRun?: boolean } }>(
      '/rejections/redrive',
      {
        config: { audit: true },
        schema: {
          operationId: 'redriveRejections',
          summary: 'Send picked records of cdr.rejected back to the topic of the stage that rejected them (safe to repeat: the stages de-duplicate on the event id)',
          tags: ['redrive'],
          body: { type: 'object', properties: { refs, dryRun: { type: 'boolean' } }, required: ['refs'], additionalProperties: false },
          response: {
            200: answer(
              'What was sent where; records not found, another brand\'s, or not redrivable (a file line, an unreadable record) are listed with topic null or left out',
              object({
                scanned: integer,
                matched: integer,
                notRedrivable: integer,
                republished: counts,
                records: arrayOf(object({ ref: text, topic: nullable(text), reason: text })),
              }),
            ),
            ...problemResponses,
          },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const report = await redriveRejections(deps.kafka, deps.serde, { refs: request.body.refs, dryRun: request.body.dryRun === true, ...(principal.kind === 'brand' ? { brand: principal.brand } : {}) });
        return send(reply, { status: 200, body: report });
      },
    );

    app.post<{ Body: { refs: string[]; dryRun?: boolean } }>(
      '/dead-letters/redrive',
      {
        config: { audit: true },
        schema: {
          operationId: 'redriveDeadLetters',
          summary: "Send picked records of ops.dead-letter back to the topic they were consumed from, once each (marked on ops.dead-letter.redriven); the parent's key",
          tags: ['redrive'],
          body: { type: 'object', properties: { refs, dryRun: { type: 'boolean' } }, required: ['refs'], additionalProperties: false },
          response: {
            200: answer(
              'What was sent where, what was already sent before, and what cannot go back',
              object({ scanned: integer, skippedByFilter: integer, alreadyRedriven: integer, unredrivable: counts, leftByLimit: integer, sent: counts }),
            ),
            403: problemAnswer("A brand's key: dead letters may be any brand's or none's"),
            ...problemResponses,
          },
        },
      },
      async (request, reply) => {
        if (principalOf(request).kind !== 'parent') throw new HttpError(403, 'parent_key_required', "dead letters may be any brand's or unreadable: redrive them with the parent company's key");
        const report = await redriveDeadLetters(deps.kafka, { refs: request.body.refs, dryRun: request.body.dryRun === true });
        return send(reply, { status: 200, body: report });
      },
    );
  };
}

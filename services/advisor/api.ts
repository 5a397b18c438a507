import type { Knex } from 'knex';
import { brandFilter, seesBrand } from '../../runtime/auth.ts';
import { notFound, principalOf, problemResponses, send } from '../../runtime/http.ts';
import type { StageApi } from '../../runtime/stage.ts';
import type { AdvisorRunResult } from './index.ts';
import { SCHEMA } from './schema.ts';

export interface AdvisorUseCases {
  runNow(brand?: string): Promise<AdvisorRunResult[]>;
  brandKnown(code: string): boolean;
}

const STATUSES = ['live', 'superseded', 'withdrawn', 'accepted'] as const;
const text = (description: string) => ({ type: 'string', description }) as const;
const money = (description: string) => ({ type: 'string', pattern: '^-?\\d+(\\.\\d+)?$', description: `${description} (a decimal string)` }) as const;
const instantMs = (description: string) => ({ type: 'integer', description: `${description} (epoch ms, UTC)` }) as const;
const recommendation = {
  type: 'object',
  description: 'A recommendation: status, the plan, savings per period and year, confidence, and the basis periods with their usage and costs (schemas/plan-recommendation.avsc).',
  properties: {
    recommendationId: text('Deterministic from the subscription, the run date, the plan and the saving.'),
    status: { enum: [...STATUSES], description: 'live (at most one per subscription), superseded, withdrawn or accepted.' },
    supersedes: { type: ['string', 'null'], description: 'The recommendation this one replaced.' },
    supersededBy: { type: ['string', 'null'], description: 'The one that replaced it.' },
    brand: text("The brand's code."),
    accountId: text('The customer account.'),
    subscriptionId: text('The subscription.'),
    currentPlanId: text('The plan it is on.'),
    currentPlanVersion: { type: 'integer' },
    planId: text('The plan recommended.'),
    planVersion: { type: 'integer' },
    planName: text("The plan's name."),
    direction: { enum: ['upgrade', 'downgrade'] },
    currency: text('ISO 4217.'),
    savingPerPeriod: money('Mean saving per period, before tax'),
    savingPerYear: money('savingPerPeriod × 12'),
    savingPercent: money('Of the current cost'),
    currentCostPerPeriod: money('Mean cost per period on the current plan'),
    newCostPerPeriod: money('Mean cost per period on the recommended plan'),
    confidencePercent: { type: 'integer', minimum: 0, maximum: 100, description: 'History length × steadiness.' },
    confidenceLevel: { enum: ['high', 'medium', 'low'] },
    basis: {
      type: 'array',
      description: 'The periods it is based on, oldest first.',
      items: {
        type: 'object',
        properties: {
          periodStart: instantMs('Start of the period'),
          periodEnd: instantMs('End of the period, exclusive'),
          projected: { type: 'boolean', description: 'The current period, projected to its end.' },
          usage: { type: 'array', items: { type: 'object', properties: { usageType: text('The usage type.'), calls: { type: 'integer' }, billableSeconds: { type: 'integer' } } } },
          currentCost: money('The period on the current plan'),
          newCost: money('The period on the recommended plan'),
        },
      },
    },
    createdAt: { type: 'string', format: 'date-time' },
    endedAt: { type: ['string', 'null'], format: 'date-time', description: 'When it stopped being live.' },
  },
} as const;
const runResult = {
  type: 'object',
  properties: {
    brand: text("The brand's code."),
    subscriptions: { type: 'integer', description: 'Active subscriptions looked at.' },
    published: { type: 'integer', description: 'New live recommendations (each superseding any before).' },
    withdrawn: { type: 'integer' },
    kept: { type: 'integer', description: 'Live ones unchanged (no event).' },
    pruned: { type: 'integer', description: 'Stored calls of periods older than the look-back, deleted.' },
  },
} as const;

/** Recommendations (a brand's key reads its own brand's) and runs on demand. */
export function advisorApi(db: Knex, useCases: AdvisorUseCases): StageApi {
  const view = (row: { recommendation_id: string; status: string; superseded_by: string | null; created_at: Date; ended_at: Date | null; body: Record<string, unknown> }) => ({
    ...row.body,
    eventId: undefined,
    recommendationId: row.recommendation_id,
    status: row.status,
    supersededBy: row.superseded_by,
    createdAt: new Date(row.created_at).toISOString(),
    endedAt: row.ended_at === null ? null : new Date(row.ended_at).toISOString(),
  });
  return {
    title: 'rateline advisor',
    description: "Plan recommendations from each subscription's own usage: the live one per subscription and the history, and runs on demand.",
    routes: (app) => {
      app.get<{ Querystring: { brand?: string; subscriptionId?: string; status?: string; limit?: number } }>(
        '/recommendations',
        {
          schema: {
            operationId: 'listRecommendations',
            summary: 'Recommendations, newest first, by brand, subscription and status (live: at most one per subscription)',
            tags: ['recommendations'],
            querystring: { type: 'object', properties: { brand: { type: 'string' }, subscriptionId: { type: 'string' }, status: { enum: [...STATUSES] }, limit: { type: 'integer', minimum: 1, maximum: 1000 } }, additionalProperties: false },
            response: { 200: { description: 'Recommendations', type: 'object', properties: { recommendations: { type: 'array', items: recommendation } } }, ...problemResponses },
          },
        },
        async (request, reply) => {
          const scope = brandFilter(principalOf(request), request.query.brand);
          if (scope === 'none') return send(reply, { status: 200, body: { recommendations: [] } });
          const query = db(`${SCHEMA}.recommendations`).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'recommendation_id', order: 'desc' }]).limit(request.query.limit ?? 100);
          if (scope.brand) void query.where('brand', scope.brand);
          if (request.query.subscriptionId) void query.where('subscription_id', request.query.subscriptionId);
          if (request.query.status) void query.where('status', request.query.status);
          return send(reply, { status: 200, body: { recommendations: (await query).map(view) } });
        },
      );
      app.get<{ Params: { recommendationId: string } }>(
        '/recommendations/:recommendationId',
        { schema: { operationId: 'getRecommendation', summary: 'One recommendation with its evidence', tags: ['recommendations'], params: { type: 'object', properties: { recommendationId: { type: 'string' } }, required: ['recommendationId'] }, response: { 200: recommendation, ...problemResponses } } },
        async (request, reply) => {
          const row = await db(`${SCHEMA}.recommendations`).where({ recommendation_id: request.params.recommendationId }).first();
          if (!row || !seesBrand(principalOf(request), row.brand)) throw notFound(`recommendation ${request.params.recommendationId}`, 'recommendation_not_found');
          return send(reply, { status: 200, body: view(row) });
        },
      );
      app.post<{ Body: { brand?: string } | undefined }>(
        '/recommendation-runs',
        {
          schema: {
            operationId: 'runRecommendations',
            summary: "Recommend now for a brand (a brand's key: its own), whatever the hour; the parent's key may run every brand",
            tags: ['recommendations'],
            body: { type: 'object', properties: { brand: { type: 'string' } }, additionalProperties: false },
            response: { 200: { description: 'What each brand run did', type: 'object', properties: { runs: { type: 'array', items: runResult } } }, ...problemResponses },
          },
        },
        async (request, reply) => {
          const principal = principalOf(request);
          const brand = request.body?.brand ?? (principal.kind === 'brand' ? principal.brand : undefined);
          // Another brand is answered as an unknown one: a key learns nothing of brands it cannot see.
          if (brand !== undefined && (!seesBrand(principal, brand) || !useCases.brandKnown(brand))) throw notFound(`brand ${brand}`, 'brand_not_found');
          return send(reply, { status: 200, body: { runs: await useCases.runNow(brand) } });
        },
      );
    },
  };
}

export { COMMISSIONABLE_KINDS, agentStatement, commissionLines, monthlyStatements } from './commissions.ts';
export { CommissionError } from './types.ts';
export type {
  AgentStatement,
  CommissionBrand,
  CommissionErrorCode,
  CommissionInput,
  CommissionLine,
  CommissionRule,
  CommissionSubscription,
  Refund,
  StatementTotal,
} from './types.ts';

import { HttpError } from '../../runtime/http.ts';
import type { Problem } from './validation.ts';

/** An error with its HTTP status and, for invalid requests, every problem (the runtime's HTTP error). */
export class ApiError extends HttpError {
  constructor(status: number, code: string, message: string, problems: Problem[] = []) {
    super(status, code, message, problems);
    this.name = 'ApiError';
  }
}

export const invalid = (problems: Problem[], message = 'the request is invalid') => new ApiError(422, 'invalid_request', message, problems);
export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} was not found`);
export const forbiddenBrand = (brand: string) => new ApiError(403, 'forbidden_brand', `this API key may not change data of ${brand}`);
export const conflict = (code: string, message: string, problems: Problem[] = []) => new ApiError(409, code, message, problems);

/** Throws 422 with every problem when there is any. */
export function assertValid(problems: Problem[]): void {
  if (problems.length > 0) throw invalid(problems);
}

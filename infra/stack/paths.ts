import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The project's root folder (where package.json lives). */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Everything the local stack downloads, stores and logs lives under one folder a user can find
 * and delete: `.rateline/` in the project, or RATELINE_HOME.
 */
export function stackHome(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.RATELINE_HOME ?? path.join(projectRoot, '.rateline'));
}

export const stackPaths = (home: string) => ({
  home,
  logs: path.join(home, 'logs'),
  state: path.join(home, 'stack.json'),
  kafkaLibs: path.join(home, 'kafka-libs'),
  kafkaData: path.join(home, 'kafka-data'),
  kafkaConfig: path.join(home, 'kafka-server.properties'),
  downloads: path.join(home, 'downloads'),
  registryDist: path.join(home, 'apicurio-registry'),
  pgData: path.join(home, 'pg-data'),
});
export type StackPaths = ReturnType<typeof stackPaths>;

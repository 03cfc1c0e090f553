import path from 'node:path';

/** The repository root (this file is packages/backend/src/demo/__testUtils__). */
export const REPO_ROOT = path.resolve(__dirname, '../../../../..');

/**
 * What a test backend needs to serve the Online Boutique examples to a
 * caller with a static token: `backend.auth` accepting the token (subject
 * `ci`) and a `catalog` of the examples.
 */
export function exampleCatalogConfig(token: string) {
  return {
    auth: {
      externalAccess: [{ type: 'static', options: { token, subject: 'ci' } }],
    },
    catalog: {
      rules: [
        {
          allow: [
            'Component',
            'System',
            'API',
            'Resource',
            'Location',
            'Group',
          ],
        },
      ],
      locations: [
        {
          type: 'file',
          target: path.join(
            REPO_ROOT,
            'examples/online-boutique/catalog-info.yaml',
          ),
        },
      ],
    },
  };
}

import {
  coreServices,
  createServiceFactory,
  type BackstageCredentials,
  type HttpAuthService,
} from '@backstage/backend-plugin-api';
import { mockCredentials, mockServices } from '@backstage/backend-test-utils';

/**
 * The mock HttpAuthService, except that a plugin's token on behalf of a
 * user authenticates as that user with the plugin as `actor`, as Backstage's
 * real auth service does (the mock drops the actor). The permission backend
 * tells the two apart: it refuses a resource permission without a
 * resourceRef (a conditional question) from a user calling it directly, and
 * answers it for a plugin asking on a user's behalf.
 */
export function httpAuthWithOboActors() {
  return createServiceFactory({
    service: coreServices.httpAuth,
    deps: { plugin: coreServices.pluginMetadata },
    factory: ({ plugin }): HttpAuthService => {
      const inner = mockServices.httpAuth({
        pluginId: plugin.getId(),
        defaultCredentials: mockCredentials.none(),
      });
      return {
        issueUserCookie: (res, options) => inner.issueUserCookie(res, options),
        credentials: (async (req: any, options: any) => {
          const credentials: BackstageCredentials = await inner.credentials(
            req,
            options,
          );
          const token = /^Bearer[ ]+(\S+)$/i.exec(
            String(req.headers.authorization ?? ''),
          )?.[1];
          const principal = credentials.principal as {
            type: string;
            userEntityRef?: string;
            actor?: unknown;
          };
          if (
            principal.type === 'user' &&
            !principal.actor &&
            token?.startsWith('mock-service-token:')
          ) {
            return mockCredentials.user(principal.userEntityRef, {
              actor: { subject: 'plugin:on-behalf-of-user' },
            });
          }
          return credentials;
        }) as HttpAuthService['credentials'],
      };
    },
  });
}

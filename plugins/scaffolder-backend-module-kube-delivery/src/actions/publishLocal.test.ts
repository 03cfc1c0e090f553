import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import { createPublishLocalAction } from './publishLocal';

/*
 * Refusals of kube-delivery:publish:local: a name is hostile input (it
 * becomes a directory on the backend's machine), and an existing service is
 * never overwritten. Publishing and registering for real is covered by the
 * template test.
 */
describe('kube-delivery:publish:local', () => {
  let root: string;
  let workspace: string;
  const catalog = catalogServiceMock.mock();

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-publish-root-'));
    workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-publish-ws-'));
    fs.writeFileSync(
      path.join(workspace, 'catalog-info.yaml'),
      'kind: Component\n',
    );
  });
  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(workspace, { recursive: true, force: true });
  });

  it.each(['../escape', '/etc', 'a/b', 'UPPER', '', 'x'.repeat(46), '-dash'])(
    'refuses the name %j before writing anything',
    async name => {
      const action = createPublishLocalAction({
        publishDirectory: root,
        catalog,
      });
      const ctx = createMockActionContext({
        input: { name },
        workspacePath: workspace,
      });
      await expect(action.handler(ctx)).rejects.toThrow(
        /^name must be an RFC 1123 label/,
      );
      expect(fs.readdirSync(root)).toEqual([]);
      expect(fs.existsSync(path.join(root, '..', 'escape'))).toBe(false);
      expect(catalog.addLocation).not.toHaveBeenCalled();
    },
  );

  it('never overwrites a service that is already published', async () => {
    fs.mkdirSync(path.join(root, 'adservice'));
    fs.writeFileSync(
      path.join(root, 'adservice', 'catalog-info.yaml'),
      'original',
    );
    const action = createPublishLocalAction({
      publishDirectory: root,
      catalog,
    });
    const ctx = createMockActionContext({
      input: { name: 'adservice' },
      workspacePath: workspace,
    });
    await expect(action.handler(ctx)).rejects.toThrow(
      /already exists; choose another service name/,
    );
    expect(
      fs.readFileSync(
        path.join(root, 'adservice', 'catalog-info.yaml'),
        'utf8',
      ),
    ).toBe('original');
    expect(catalog.addLocation).not.toHaveBeenCalled();
  });
});

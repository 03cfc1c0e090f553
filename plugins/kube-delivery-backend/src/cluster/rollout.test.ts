import type {
  CoreV1Event,
  V1Deployment,
  V1Job,
  V1Pod,
} from '@kubernetes/client-node';
import { foreignReplicasOwner } from './apply';
import {
  failedContainers,
  jobOutcome,
  labelSelectorString,
  rolloutProblems,
  rolloutStatusFrom,
  warningEvents,
} from './rollout';

function dep(
  status: NonNullable<V1Deployment['status']>,
  { generation = 2, replicas = 3 } = {},
): V1Deployment {
  return {
    metadata: { name: 'web', generation },
    spec: { replicas, selector: {}, template: {} },
    status: { observedGeneration: 2, ...status },
  };
}

const progressing = (reason: string, status = 'True') => ({
  conditions: [
    { type: 'Progressing', status, reason, message: `msg ${reason}` },
  ],
});

describe('rolloutStatusFrom', () => {
  it('follows kubectl rollout status, step by step', () => {
    expect(
      rolloutStatusFrom('web', dep({ observedGeneration: 1 })).message,
    ).toBe(
      'Waiting for the Deployment controller to observe the new spec (generation 2)',
    );
    expect(
      rolloutStatusFrom(
        'web',
        dep({
          replicas: 4,
          updatedReplicas: 2,
          ...progressing('ReplicaSetUpdated'),
        }),
      ).message,
    ).toBe('2 of 3 new replicas have been updated');
    expect(
      rolloutStatusFrom(
        'web',
        dep({ replicas: 4, updatedReplicas: 3, availableReplicas: 3 }),
      ).message,
    ).toBe('1 old replica is pending termination');
    const waiting = rolloutStatusFrom(
      'web',
      dep({
        replicas: 3,
        updatedReplicas: 3,
        readyReplicas: 2,
        availableReplicas: 2,
        unavailableReplicas: 1,
      }),
    );
    expect(waiting).toMatchObject({
      complete: false,
      message: '2 of 3 updated replicas are available',
      unavailable: 1,
    });
    const done = rolloutStatusFrom(
      'web',
      dep({
        replicas: 3,
        updatedReplicas: 3,
        readyReplicas: 3,
        availableReplicas: 3,
        ...progressing('NewReplicaSetAvailable'),
      }),
    );
    expect(done).toMatchObject({
      complete: true,
      progressing: 'True',
      progressReason: 'NewReplicaSetAvailable',
      message: 'Rollout complete: 3 of 3 updated replicas are available',
    });
  });

  it('reports an exceeded progress deadline, never complete', () => {
    const s = rolloutStatusFrom(
      'web',
      dep(
        {
          replicas: 1,
          updatedReplicas: 1,
          ...progressing('ProgressDeadlineExceeded', 'False'),
        },
        { replicas: 1 },
      ),
    );
    expect(s).toMatchObject({
      complete: false,
      deadlineExceeded: true,
      progressing: 'False',
    });
    expect(s.message).toBe(
      'Deployment "web" exceeded its progress deadline: 0 of 1 replicas are available (msg ProgressDeadlineExceeded)',
    );
  });

  it('waits past a deadline condition written before the spec was applied (rollback of a failed rollout)', () => {
    const stale = {
      replicas: 2,
      updatedReplicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
      conditions: [
        {
          type: 'Progressing',
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          lastUpdateTime: new Date('2026-11-26T07:00:00Z'),
        },
      ],
    };
    const appliedAt = Date.parse('2026-11-26T07:00:01.500Z');
    const s = rolloutStatusFrom('web', dep(stale, { replicas: 1 }), [], {
      appliedAt,
    });
    expect(s).toMatchObject({ deadlineExceeded: false, complete: false });
    expect(s.message).toBe('1 old replica is pending termination');
    // Written in the second of the apply: the failure the rollback answers.
    const sameSecond = structuredClone(stale);
    sameSecond.conditions[0].lastUpdateTime = new Date('2026-11-26T07:00:01Z');
    expect(
      rolloutStatusFrom('web', dep(sameSecond, { replicas: 1 }), [], {
        appliedAt,
      }).deadlineExceeded,
    ).toBe(false);
    // Written in a later second: about this rollout.
    const fresh = structuredClone(stale);
    fresh.conditions[0].lastUpdateTime = new Date('2026-11-26T07:00:02Z');
    expect(
      rolloutStatusFrom('web', dep(fresh, { replicas: 1 }), [], { appliedAt })
        .deadlineExceeded,
    ).toBe(true);
  });

  it('is not complete while the new spec is unobserved, even if counts match', () => {
    const s = rolloutStatusFrom(
      'web',
      dep({
        observedGeneration: 1,
        replicas: 3,
        updatedReplicas: 3,
        availableReplicas: 3,
      }),
    );
    expect(s).toMatchObject({
      complete: false,
      observedGenerationCurrent: false,
    });
  });

  it('summarises pods', () => {
    const pods: V1Pod[] = [
      {
        metadata: { name: 'web-b' },
        spec: { nodeName: 'n2', containers: [] },
        status: {
          phase: 'Running',
          podIP: '10.0.0.2',
          conditions: [{ type: 'Ready', status: 'True' }],
        },
      },
      {
        metadata: { name: 'web-a' },
        spec: { containers: [] },
        status: { phase: 'Pending' },
      },
      {
        metadata: { name: 'web-c', deletionTimestamp: new Date() },
        spec: { nodeName: 'n1', containers: [] },
        status: { phase: 'Running' },
      },
    ];
    expect(rolloutStatusFrom('web', dep({}), pods).pods).toEqual([
      {
        name: 'web-a',
        node: undefined,
        ready: false,
        phase: 'Pending',
        ip: undefined,
      },
      {
        name: 'web-b',
        node: 'n2',
        ready: true,
        phase: 'Running',
        ip: '10.0.0.2',
      },
      {
        name: 'web-c',
        node: 'n1',
        ready: false,
        phase: 'Terminating',
        ip: undefined,
      },
    ]);
  });

  it('says when the Deployment does not exist', () => {
    expect(rolloutStatusFrom('web', undefined)).toMatchObject({
      exists: false,
      complete: false,
      message: 'Deployment "web" does not exist',
    });
  });
});

describe('rolloutProblems', () => {
  const pod = (name: string, status: V1Pod['status']): V1Pod => ({
    metadata: { name },
    status,
  });

  it('says why pods are not created, scheduled or running', () => {
    const failing = dep({
      conditions: [
        {
          type: 'ReplicaFailure',
          status: 'True',
          reason: 'FailedCreate',
          message:
            'pods "web-5d8f-" is forbidden: error looking up service account dev/web: serviceaccount "web" not found',
        },
      ],
    });
    const pods = [
      pod('web-a', {
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message:
              "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
          },
        ],
      }),
      pod('web-b', {
        phase: 'Pending',
        containerStatuses: [
          {
            name: 'web',
            image: 'shop/web:1',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: {
              waiting: {
                reason: 'ImagePullBackOff',
                message: 'Back-off pulling image "shop/web:1"',
              },
            },
          },
        ],
      }),
      pod('web-c', {
        phase: 'Running',
        containerStatuses: [
          {
            name: 'web',
            image: 'shop/web:1',
            imageID: '',
            ready: false,
            restartCount: 3,
            state: { waiting: { reason: 'CrashLoopBackOff' } },
            lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } },
          },
        ],
      }),
      pod('web-d', {
        phase: 'Pending',
        containerStatuses: [
          {
            name: 'web',
            image: 'shop/web:1',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { waiting: { reason: 'ContainerCreating' } },
          },
        ],
      }),
    ];
    // A second pod with web-b's problem: said once, naming both.
    const twice = [...pods, { ...pods[1], metadata: { name: 'web-e' } }];
    expect(rolloutProblems(failing, twice)).toContain(
      '2 pods (web-b, web-e): container web is waiting: ImagePullBackOff: Back-off pulling image "shop/web:1"',
    );
    expect(rolloutProblems(failing, pods)).toEqual([
      'FailedCreate: pods "web-5d8f-" is forbidden: error looking up service account dev/web: serviceaccount "web" not found',
      "Pod web-a cannot be scheduled: 0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
      'Pod web-b: container web is waiting: ImagePullBackOff: Back-off pulling image "shop/web:1"',
      'Pod web-c: container web is waiting: CrashLoopBackOff',
      'Pod web-c: container web last terminated: OOMKilled (exit code 137), restarted 3 times',
    ]);
    // In the status message while the rollout waits, and as a list.
    const status = rolloutStatusFrom('web', failing, pods);
    expect(status.problems).toHaveLength(5);
    expect(status.message).toContain(
      '. FailedCreate: pods "web-5d8f-" is forbidden',
    );
  });

  it('says nothing when nothing is wrong, and nothing once complete', () => {
    expect(
      rolloutProblems(dep({}), [pod('web-a', { phase: 'Running' })]),
    ).toEqual([]);
    const done = rolloutStatusFrom(
      'web',
      dep(
        {
          replicas: 1,
          updatedReplicas: 1,
          availableReplicas: 1,
          readyReplicas: 1,
        },
        { replicas: 1 },
      ),
      [],
      { events: ['BackOff on Pod/web-a: old news'] },
    );
    expect(done).toMatchObject({ complete: true });
    expect(done.problems).toBeUndefined();
  });

  it('adds the newest Warning events of the objects involved, without repeating a condition', () => {
    const event = (
      uid: string,
      reason: string,
      message: string,
      at: string,
    ): CoreV1Event => ({
      metadata: {},
      type: 'Warning',
      reason,
      message,
      lastTimestamp: new Date(at),
      involvedObject: { uid, kind: 'ReplicaSet', name: 'web-5d8f' },
    });
    const events = [
      event(
        'rs',
        'FailedCreate',
        'Error creating: quota exceeded',
        '2026-01-01T00:00:01Z',
      ),
      event(
        'rs',
        'FailedCreate',
        'Error creating: newer',
        '2026-01-01T00:00:02Z',
      ),
      event('other', 'BackOff', 'not ours', '2026-01-01T00:00:03Z'),
      {
        ...event('rs', 'Scaled', 'normal', '2026-01-01T00:00:04Z'),
        type: 'Normal',
      },
    ];
    expect(warningEvents(events, new Set(['rs']))).toEqual([
      'FailedCreate on ReplicaSet/web-5d8f: Error creating: newer',
      'FailedCreate on ReplicaSet/web-5d8f: Error creating: quota exceeded',
    ]);
    const failing = dep({
      conditions: [
        {
          type: 'ReplicaFailure',
          status: 'True',
          reason: 'FailedCreate',
          message: 'Error creating: newer',
        },
      ],
    });
    expect(
      rolloutStatusFrom('web', failing, [], {
        events: warningEvents(events, new Set(['rs'])),
      }).problems,
    ).toEqual([
      'FailedCreate: Error creating: newer',
      'FailedCreate on ReplicaSet/web-5d8f: Error creating: quota exceeded',
    ]);
  });
});

describe('jobOutcome', () => {
  const job = (conditions: any[], status = {}): V1Job => ({
    metadata: { name: 'smoke' },
    status: { conditions, ...status },
  });
  it('reads Complete and Failed', () => {
    expect(jobOutcome(job([]))).toMatchObject({ finished: false });
    expect(
      jobOutcome(job([{ type: 'Complete', status: 'True' }], { succeeded: 1 })),
    ).toEqual({
      finished: true,
      succeeded: true,
      message: 'Job "smoke" succeeded (active 0, succeeded 1, failed 0)',
    });
    expect(
      jobOutcome(
        job(
          [
            {
              type: 'Failed',
              status: 'True',
              reason: 'BackoffLimitExceeded',
              message: 'Job has reached the specified backoff limit',
            },
          ],
          { failed: 1 },
        ),
      ),
    ).toEqual({
      finished: true,
      succeeded: false,
      message:
        'Job "smoke" failed (BackoffLimitExceeded: Job has reached the specified backoff limit) (active 0, succeeded 0, failed 1)',
    });
  });

  it('lists failed containers', () => {
    expect(
      failedContainers([
        {
          metadata: { name: 'smoke-x' },
          status: {
            containerStatuses: [
              {
                name: 'smoke',
                image: 'i',
                imageID: '',
                ready: false,
                restartCount: 0,
                state: {
                  terminated: {
                    exitCode: 1,
                    reason: 'Error',
                    message: 'checkout returned 500\n',
                  },
                },
              },
            ],
          },
        },
      ]),
    ).toEqual([
      'pod smoke-x: container smoke exited with code 1 (Error): checkout returned 500',
    ]);
  });
});

describe('labelSelectorString', () => {
  it('spells matchLabels and matchExpressions', () => {
    expect(
      labelSelectorString({
        matchLabels: { app: 'web', track: 'main' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['a', 'b'] },
          { key: 'branch', operator: 'DoesNotExist' },
          { key: 'x', operator: 'Exists' },
          { key: 'y', operator: 'NotIn', values: ['z'] },
        ],
      }),
    ).toBe('app=web,track=main,tier in (a,b),!branch,x,y notin (z)');
  });
});

describe('foreignReplicasOwner', () => {
  it('finds another manager owning spec.replicas', () => {
    expect(
      foreignReplicasOwner([
        {
          manager: 'kube-delivery',
          operation: 'Apply',
          fieldsV1: { 'f:spec': { 'f:replicas': {}, 'f:template': {} } },
        },
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          subresource: 'status',
          fieldsV1: { 'f:status': {} },
        },
      ]),
    ).toBeUndefined();
    expect(
      foreignReplicasOwner([
        {
          manager: 'kube-delivery',
          operation: 'Apply',
          fieldsV1: { 'f:spec': { 'f:template': {} } },
        },
        {
          manager: 'kubectl',
          operation: 'Update',
          subresource: 'scale',
          fieldsV1: { 'f:spec': { 'f:replicas': {} } },
        },
      ]),
    ).toBe('kubectl');
  });
});

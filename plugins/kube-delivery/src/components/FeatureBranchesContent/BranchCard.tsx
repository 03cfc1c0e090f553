import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Chip from '@material-ui/core/Chip';
import Paper from '@material-ui/core/Paper';
import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableHead from '@material-ui/core/TableHead';
import TableRow from '@material-ui/core/TableRow';
import Typography from '@material-ui/core/Typography';
import Alert from '@material-ui/lab/Alert';
import type { RouteRule } from '@internal/plugin-kube-delivery-common';
import { relativeTime } from '../common/format';
import { HeadingRow } from '../common/HeadingRow';
import { ruleText, type BranchView, type ListedRule } from './branches';
import { timeLeft } from './routingKey';

/** One branch deployment with its state and routing rules, and what may be done to them. */
export function BranchCard(props: {
  view: BranchView;
  canRoute: boolean;
  /** Whether Extend and Remove show on a rule (its owner, or a route admin). */
  canChangeRule: (rule: ListedRule) => boolean;
  canRemoveBranch: boolean;
  busy: boolean;
  onAddRule: () => void;
  onExtend: (rule: RouteRule) => void;
  onRemoveRule: (rule: RouteRule) => void;
  onRemoveBranch: () => void;
}) {
  const { view, canRoute, canRemoveBranch, busy } = props;
  const { latest } = view;
  const label = `Branch ${view.branch} in ${view.environment}`;
  // Deployed without a rule, the branch serves no one: not shown as serving.
  const state =
    latest?.status === 'succeeded' && view.rules.length === 0
      ? 'deployed, no one routed to it'
      : latest?.status;
  return (
    <Paper variant="outlined" component="section" aria-label={label}>
      <Box p={2}>
        <HeadingRow title={view.branch} variant="h6">
          {latest ? (
            <>
              <Chip size="small" label={latest.version} variant="outlined" />
              <Chip
                size="small"
                label={state}
                color={state === 'succeeded' ? 'primary' : 'default'}
              />
              <Typography variant="body2" color="textSecondary">
                {latest.kind} by {latest.createdBy}{' '}
                {relativeTime(latest.finishedAt ?? latest.createdAt)}
              </Typography>
            </>
          ) : (
            <Typography variant="body2" color="textSecondary">
              No deployment of this branch in the recent history.
            </Typography>
          )}
        </HeadingRow>
        {latest?.message && (
          <Typography variant="body2">{latest.message}</Typography>
        )}
        {view.rules.length > 0 && latest?.status !== 'succeeded' && (
          <Box my={1}>
            <Alert severity="info">
              {latest
                ? `The latest deployment of ${view.branch} in ${view.environment} is ${latest.status}: the rules route once one succeeds.`
                : `${view.branch} is not deployed in ${view.environment} yet: the rules route once it is.`}
            </Alert>
          </Box>
        )}

        {view.rules.length === 0 ? (
          <Typography variant="body2">
            No routing rules: only requests someone routes here reach it.
            {canRoute && ' Add a rule to route yourself.'}
          </Typography>
        ) : (
          <Table
            size="small"
            aria-label={`Routing rules of ${view.branch} in ${view.environment}`}
          >
            <TableHead>
              <TableRow>
                <TableCell>Kind</TableCell>
                <TableCell>Key</TableCell>
                <TableCell>Value</TableCell>
                <TableCell>Owner</TableCell>
                <TableCell>Time left</TableCell>
                {canRoute && <TableCell>Actions</TableCell>}
              </TableRow>
            </TableHead>
            <TableBody>
              {(view.rules as ListedRule[]).map(rule => (
                <TableRow key={rule.id}>
                  <TableCell style={{ whiteSpace: 'nowrap' }}>
                    {rule.kind}
                  </TableCell>
                  <TableCell style={{ whiteSpace: 'nowrap' }}>
                    {rule.key}
                  </TableCell>
                  {rule.value === null ? (
                    <TableCell title="Shown to the rule's owner and to those who may route on this service">
                      <Typography variant="body2" color="textSecondary">
                        hidden
                      </Typography>
                    </TableCell>
                  ) : (
                    <TableCell style={{ fontFamily: 'monospace' }}>
                      {rule.value}
                    </TableCell>
                  )}
                  {/* A ref such as service:ci is one word: never broken inside it. */}
                  <TableCell style={{ whiteSpace: 'nowrap' }}>
                    {rule.owner}
                  </TableCell>
                  <TableCell
                    style={{ whiteSpace: 'nowrap' }}
                    title={new Date(rule.expiresAt).toLocaleString()}
                  >
                    {timeLeft(rule.expiresAt)}
                  </TableCell>
                  {canRoute && (
                    <TableCell>
                      {props.canChangeRule(rule) && (
                        <>
                          <Button
                            size="small"
                            disabled={busy}
                            onClick={() => props.onExtend(rule as RouteRule)}
                            aria-label={`Extend rule ${ruleText(
                              rule,
                            )} by 8 hours`}
                          >
                            Extend
                          </Button>
                          <Button
                            size="small"
                            disabled={busy}
                            onClick={() =>
                              props.onRemoveRule(rule as RouteRule)
                            }
                            aria-label={`Remove rule ${ruleText(rule)}`}
                          >
                            Remove
                          </Button>
                        </>
                      )}
                    </TableCell>
                  )}
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
        {(canRoute || canRemoveBranch) && (
          <Box mt={1} display="flex" style={{ gap: 8 }}>
            {canRoute && (
              <Button
                variant="contained"
                color="primary"
                size="small"
                disabled={busy}
                onClick={props.onAddRule}
                aria-label={`Add rule for ${view.branch} in ${view.environment}`}
              >
                Add rule
              </Button>
            )}
            {canRemoveBranch && (
              <Button
                variant="outlined"
                size="small"
                disabled={busy}
                onClick={props.onRemoveBranch}
                aria-label={`Remove branch ${view.branch} from ${view.environment}`}
              >
                Remove branch
              </Button>
            )}
          </Box>
        )}
      </Box>
    </Paper>
  );
}

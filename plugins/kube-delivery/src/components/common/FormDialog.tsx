import type { ReactNode } from 'react';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Dialog, { type DialogProps } from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogTitle from '@material-ui/core/DialogTitle';
import Alert from '@material-ui/lab/Alert';

/**
 * A dialog that submits a form: its title, its fields, the error of the last
 * submit, then Cancel and the primary action.
 */
export function FormDialog(props: {
  open: boolean;
  /** The title's element id, which labels the dialog. */
  titleId: string;
  title: ReactNode;
  children: ReactNode;
  error?: string;
  submitLabel: string;
  submitAriaLabel: string;
  submitDisabled: boolean;
  onSubmit: () => void;
  onClose: () => void;
  maxWidth?: DialogProps['maxWidth'];
}) {
  const { open, titleId, error, onClose } = props;
  return (
    <Dialog
      open={open}
      onClose={onClose}
      aria-labelledby={titleId}
      fullWidth
      maxWidth={props.maxWidth}
    >
      <DialogTitle id={titleId}>{props.title}</DialogTitle>
      <DialogContent>
        {props.children}
        {error && (
          <Box mt={1}>
            <Alert severity="error">{error}</Alert>
          </Box>
        )}
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose}>Cancel</Button>
        <Button
          color="primary"
          variant="contained"
          disabled={props.submitDisabled}
          onClick={props.onSubmit}
          aria-label={props.submitAriaLabel}
        >
          {props.submitLabel}
        </Button>
      </DialogActions>
    </Dialog>
  );
}

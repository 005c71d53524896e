import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Dialog from "@mui/material/Dialog";
import DialogActions from "@mui/material/DialogActions";
import DialogContent from "@mui/material/DialogContent";
import DialogTitle from "@mui/material/DialogTitle";
import Typography from "@mui/material/Typography";

import { useTrustHostKeyMutation, type HostKeyScan } from "@/client/orca-api";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { MONO } from "@/lib/theme";

/** Shows a scanned host key's fingerprint so the user can compare it with the host's own
 * (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`) before trusting it. */
export function HostKeyDialog({
  systemId,
  scan,
  onClose,
}: {
  systemId: string;
  scan: HostKeyScan | null;
  onClose: () => void;
}) {
  const [trust, { isLoading, error, reset }] = useTrustHostKeyMutation();
  const close = () => {
    reset();
    onClose();
  };
  return (
    <Dialog
      open={scan !== null}
      onClose={close}
      aria-labelledby="host-key-title"
      maxWidth="sm"
      fullWidth
    >
      <DialogTitle id="host-key-title">Trust this host key?</DialogTitle>
      <DialogContent>
        {scan && (
          <>
            <ProblemAlert error={error} title="Not trusted" />
            <Typography gutterBottom>
              The host presented this key. Check its fingerprint on the machine itself before
              trusting it:
            </Typography>
            <Box
              component="code"
              data-testid="fingerprint"
              sx={{
                display: "block",
                p: 1.5,
                my: 1,
                bgcolor: "action.hover",
                borderRadius: 1,
                fontFamily: MONO,
                overflowWrap: "anywhere",
              }}
            >
              {scan.fingerprint}
            </Box>
            <Typography
              variant="body2"
              color="text.secondary"
              sx={{ fontFamily: MONO, overflowWrap: "anywhere", fontSize: 12 }}
            >
              {scan.host_key}
            </Typography>
            {scan.pinned_fingerprint && !scan.matches_pinned && (
              <Alert severity="warning" sx={{ mt: 2 }}>
                This is not the key trusted so far ({scan.pinned_fingerprint}). A changed key can
                mean the machine was reinstalled, or that someone is posing as it.
              </Alert>
            )}
            {scan.matches_pinned && (
              <Alert severity="success" sx={{ mt: 2 }}>
                This key is already the trusted one.
              </Alert>
            )}
          </>
        )}
      </DialogContent>
      <DialogActions>
        <Button onClick={close}>Cancel</Button>
        <Button
          variant="contained"
          disabled={!scan || isLoading || scan.matches_pinned}
          onClick={async () => {
            if (!scan) return;
            const result = await trust({
              systemId,
              hostKeyTrust: { fingerprint: scan.fingerprint },
            });
            if ("data" in result) close();
          }}
        >
          Trust this key
        </Button>
      </DialogActions>
    </Dialog>
  );
}

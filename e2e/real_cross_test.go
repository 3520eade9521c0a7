package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chvmm/chvmm/core"
)

// Snapshots across releases: each release's VMM is given the snapshot of
// the release before it (the oldest gets the newest's). chvmm refuses it
// (ErrVersionMismatch); forced, CH tries, and what happens is logged: CH
// does not promise that snapshots move between releases.

// forcedRestoreWait bounds a forced restore and the look at its guest.
const (
	forcedRestoreWait = 20 * time.Second
	forcedCounterWait = 3 * time.Second
)

// crossRelease runs the cross-release restores, bounded by sem.
func crossRelease(t *testing.T, rep *suiteReport, snaps []realSnapshot, noTAP string, sem chan struct{}) {
	for i, target := range snaps {
		src := snaps[(i+len(snaps)-1)%len(snaps)]
		t.Run(target.version, func(t *testing.T) {
			t.Parallel()
			sem <- struct{}{}
			defer func() { <-sem }()
			rec := recorder{t: t, release: target.version, rep: rep}
			taps := watchTAPs(t)
			ctx, cancel := context.WithTimeout(t.Context(), realTestTimeout)
			defer cancel()
			rel, err := core.Lookup(target.version)
			require.NoError(t, err)
			dir := t.TempDir()
			sock := filepath.Join(dir, "cross.sock")
			p, err := core.StartProcess(ctx, rel, dir, sock, target.opts...)
			require.NoError(t, err, "StartProcess CH %s (VMM log %s)", target.version, defaultLogPath(sock))
			v := adoptVMM(t, p, rel, "cross-release")

			snapDir := src.dir
			if src.version == target.version {
				snapDir = claimOtherRelease(t, target)
			}
			rec.step("restore-refused", func() outcome {
				err := v.h.Restore(ctx, snapDir, core.RestoreOptions{Resume: true})
				require.ErrorIs(t, err, core.ErrVersionMismatch, "restoring a snapshot another release wrote, without Force%s", v.where())
				assert.ErrorContains(t, err, target.version, "the error names this VMM's release")
				info, err := v.h.VMInfo(ctx)
				require.ErrorIs(t, err, core.ErrVMNotCreated, "nothing was restored (%v)%s", info, v.where())
				return ran()
			})
			if src.version == target.version {
				rec.skip("restore-forced", "needs the snapshots of two releases; only "+target.version+" ran")
				return
			}
			rec.step("restore-forced", func() outcome {
				detail := forcedRestore(t, ctx, v, src, taps, noTAP)
				t.Logf("forced restore of CH %s's snapshot on CH %s: %s", src.version, target.version, detail)
				return logged("snapshot of %s: %s", src.version, detail)
			})
		})
	}
}

// forcedRestore restores src's snapshot into v with Force (and a new TAP
// for its net device) and says what happened; it asserts nothing of CH.
func forcedRestore(t *testing.T, ctx context.Context, v *realVMM, src realSnapshot, taps *tapWatch, noTAP string) string {
	opts := core.RestoreOptions{Force: true, Resume: true}
	if src.netID != "" {
		require.Empty(t, noTAP, "a snapshot with a TAP net device on a host without TAPs")
		tap, _ := newTAP(t, taps)
		opts.NetFDs = map[string][]*os.File{src.netID: {tap}}
	}
	// The restored VM writes to the serial file its config names.
	require.NoError(t, os.Rename(src.serial, src.serial+".before-forced-restore"), "setting %s aside", src.serial)
	rctx, cancel := context.WithTimeout(ctx, forcedRestoreWait)
	defer cancel()
	began := time.Now()
	err := v.h.Restore(rctx, src.dir, opts)
	took := time.Since(began).Round(time.Millisecond)
	if err != nil {
		alive := "the VMM still runs"
		select {
		case <-v.Done():
			alive = fmt.Sprintf("the VMM exited (%v)", v.Wait())
		default:
		}
		return fmt.Sprintf("refused after %v: %v; %s", took, err, alive)
	}
	info, err := v.h.VMInfo(ctx)
	if err != nil {
		return fmt.Sprintf("vm.restore succeeded after %v, then vm.info failed: %v", took, err)
	}
	counter, ok := pollCounter(v, src.serial, src.last+1, forcedCounterWait)
	switch {
	case ok:
		return fmt.Sprintf("restored after %v, state %s; the guest counts on (%d before the snapshot, %d now)", took, info.State, src.last, counter)
	case v.exited():
		return fmt.Sprintf("restored after %v, state %s; then the VMM exited (%v)", took, info.State, v.Wait())
	default:
		return fmt.Sprintf("restored after %v, state %s; but no guest counter after %d within %v", took, info.State, src.last, forcedCounterWait)
	}
}

// pollCounter waits up to wait for a restored guest's counter ≥ atLeast,
// without failing the test: false when none came or the VMM exited.
func pollCounter(v *realVMM, serial string, atLeast int, wait time.Duration) (int, bool) {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(serial)
		for _, c := range restoredCounters(data) {
			if c >= atLeast {
				return c, true
			}
		}
		select {
		case <-v.Done():
			return -1, false
		case <-time.After(serialPoll):
		}
	}
	return -1, false
}

// claimOtherRelease returns a directory whose chvmm metadata is that of
// the snapshot s, but claims another release wrote it: with one release
// present, the refusal is still checked.
func claimOtherRelease(t *testing.T, s realSnapshot) string {
	t.Helper()
	other := core.Releases()[0].Version()
	if other == s.version {
		other = core.Releases()[len(core.Releases())-1].Version()
	}
	if other == s.version {
		t.Skip("only one release is registered: no other release to claim")
	}
	md, err := core.ReadSnapshotMetadata(s.dir)
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(s.dir, snapshotMetadataFile))
	require.NoError(t, err)
	data = bytes.Replace(data, []byte(strconv.Quote(md.Version)), []byte(strconv.Quote(other)), 1)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, snapshotMetadataFile), data, 0o644))
	return dir
}

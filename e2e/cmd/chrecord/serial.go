package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// serialPipe is a guest's serial output. CH opens a serial file of mode
// File anew, truncating it, whenever it creates the VM (boot, reboot, the
// reset an NMI causes, restore); the recorder makes the path a FIFO and
// reads it for the whole run, so that what each boot printed stays in
// order and nothing is lost to a truncation.
type serialPipe struct {
	f    *os.File
	mu   sync.Mutex
	buf  []byte
	done chan struct{}
	pos  int // how far guest waits have read
}

// openSerial makes path a FIFO and starts reading it.
func (r *recorder) openSerial(path string) error {
	if r.serial[path] != nil {
		return nil
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		return fmt.Errorf("serial log %s: %w", path, err)
	}
	// Read-write: the open does not wait for a writer, and reads never
	// see an end of file between two VMMs.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("serial log %s: %w", path, err)
	}
	l := &serialPipe{f: f, done: make(chan struct{})}
	r.serial[path] = l
	go func() {
		defer close(l.done)
		chunk := make([]byte, 4096)
		for {
			n, err := f.Read(chunk)
			l.mu.Lock()
			l.buf = append(l.buf, chunk[:n]...)
			l.mu.Unlock()
			if err != nil {
				if !errors.Is(err, os.ErrClosed) && !errors.Is(err, io.EOF) {
					fmt.Fprintf(os.Stderr, "chrecord: serial log %s: %v\n", path, err)
				}
				return
			}
		}
	}()
	return nil
}

func (l *serialPipe) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.buf...)
}

// closeSerial stops reading every serial log.
func (r *recorder) closeSerial() {
	for _, l := range r.serial {
		l.f.Close()
		<-l.done
	}
}

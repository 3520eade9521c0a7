package chtest

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPVHKernelELFLayout reads the image back with debug/elf: one ELF64
// x86-64 executable, one PT_LOAD at 1 MiB holding the code, and a PT_NOTE
// whose Xen PHYS32 entry points into that code.
func TestPVHKernelELFLayout(t *testing.T) {
	start := time.Now()
	img := PVHKernel()
	t.Logf("built %d-byte image in %v", len(img), time.Since(start))

	f, err := elf.NewFile(bytes.NewReader(img))
	require.NoError(t, err)
	assert.Equal(t, elf.ELFCLASS64, f.Class, "linux-loader only reads Elf64 headers")
	assert.Equal(t, elf.ELFDATA2LSB, f.Data)
	assert.Equal(t, elf.EM_X86_64, f.Machine)
	assert.Equal(t, elf.ET_EXEC, f.Type)
	assert.Equal(t, uint64(PVHEntryAddress), f.Entry)
	assert.GreaterOrEqual(t, f.Entry, uint64(chHighRAMStart), "linux-loader rejects e_entry below HIGH_RAM_START")

	var loads, notes []*elf.Prog
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			loads = append(loads, p)
		case elf.PT_NOTE:
			notes = append(notes, p)
		}
	}
	require.Len(t, loads, 1)
	require.Len(t, notes, 1)
	load := loads[0]
	assert.Equal(t, uint64(PVHLoadAddress), load.Paddr)
	assert.GreaterOrEqual(t, load.Paddr, uint64(1<<20), "loaded at or above 1 MiB")
	assert.Less(t, load.Paddr+load.Memsz, uint64(2<<20), "fits below 2 MiB, in any VM")
	assert.Greater(t, load.Filesz, uint64(0))
	assert.GreaterOrEqual(t, load.Memsz, load.Filesz+stackSize, "room for the stack")
	assert.Equal(t, elf.PF_R|elf.PF_W|elf.PF_X, load.Flags)
	assert.Equal(t, uint64(4), notes[0].Align, "linux-loader walks notes with p_align")

	// The note: namesz 4, descsz 4, type 18, "Xen\0", 32-bit entry.
	note, err := io.ReadAll(notes[0].Open())
	require.NoError(t, err)
	require.Len(t, note, 20)
	le := binary.LittleEndian
	assert.Equal(t, uint32(4), le.Uint32(note[0:]))
	assert.Equal(t, uint32(4), le.Uint32(note[4:]))
	assert.Equal(t, uint32(XenElfnotePhys32Entry), le.Uint32(note[8:]))
	assert.Equal(t, "Xen\x00", string(note[12:16]))
	entry := le.Uint32(note[16:])
	assert.Equal(t, uint32(PVHEntryAddress), entry)
	assert.True(t, uint64(entry) >= load.Paddr && uint64(entry) < load.Paddr+load.Filesz, "entry inside the loaded bytes")

	// The entry's first instructions are cli; lgdt: the guest's own code.
	code, err := io.ReadAll(load.Open())
	require.NoError(t, err)
	assert.Equal(t, []byte{0xfa, 0x0f, 0x01, 0x15}, code[entry-uint32(load.Paddr):][:4])
	assert.Contains(t, string(code), GuestReadyMarker+"\n")
}

// TestPVHKernelLoadsLikeCloudHypervisor feeds the image to the mirror of
// linux-loader's ELF loader and CH's load_kernel, and checks that broken
// images are refused there, so that the mirror does check something.
func TestPVHKernelLoadsLikeCloudHypervisor(t *testing.T) {
	mem := make([]byte, 4<<20)
	entry, err := loadLikeLinuxLoader(PVHKernel(), mem)
	require.NoError(t, err)
	assert.Equal(t, uint32(PVHEntryAddress), entry)
	seg, _, _ := guestSegment(PVHLoadAddress)
	assert.Equal(t, seg, mem[PVHLoadAddress:PVHLoadAddress+len(seg)], "segment copied to p_paddr")

	broken := map[string]func(img []byte){
		"ELF32 program header size": func(img []byte) { binary.LittleEndian.PutUint16(img[54:], 32) },
		"entry below 1 MiB":         func(img []byte) { binary.LittleEndian.PutUint64(img[24:], 0x1000) },
		"note type not PHYS32":      func(img []byte) { binary.LittleEndian.PutUint32(img[elfNoteOffset+8:], 17) },
		"note name not Xen":         func(img []byte) { copy(img[elfNoteOffset+12:], "Xem") },
		"note p_align 3":            func(img []byte) { binary.LittleEndian.PutUint64(img[elfHeaderSize+elfPhdrSize+48:], 3) },
	}
	for name, breakIt := range broken {
		t.Run(name, func(t *testing.T) {
			img := PVHKernel()
			breakIt(img)
			_, err := loadLikeLinuxLoader(img, make([]byte, 4<<20))
			assert.Error(t, err)
		})
	}
}

func TestPVHKernelIsDeterministicAndCopied(t *testing.T) {
	a, b := PVHKernel(), PVHKernel()
	require.Equal(t, a, b)
	a[0] = 0
	assert.Equal(t, byte(0x7f), PVHKernel()[0], "callers get their own copy")
}

func TestWritePVHKernel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pvh.elf")
	require.NoError(t, WritePVHKernel(path))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, PVHKernel(), got)

	err = WritePVHKernel(filepath.Join(t.TempDir(), "missing", "pvh.elf"))
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

package chtest

import (
	"debug/elf"
	"encoding/binary"
)

// ELF layout of the PVH kernel image built by [PVHKernel].
const (
	// PVHLoadAddress is the guest-physical address of the image's only
	// PT_LOAD segment (p_paddr). It is 1 MiB, the start of "high RAM" in
	// Cloud Hypervisor's x86_64 layout: linux-loader rejects an ELF whose
	// entry point lies below that address.
	PVHLoadAddress = 0x100000
	// PVHEntryAddress is the 32-bit PVH entry point the image advertises in
	// its XEN_ELFNOTE_PHYS32_ENTRY note (and in e_entry): the first byte of
	// the loaded segment.
	PVHEntryAddress = PVHLoadAddress
	// XenElfnotePhys32Entry is the ELF note type (with note name "Xen")
	// that carries the 32-bit physical entry point of a PVH kernel.
	XenElfnotePhys32Entry = 18

	elfHeaderSize   = 64 // sizeof(Elf64_Ehdr)
	elfPhdrSize     = 56 // sizeof(Elf64_Phdr); linux-loader insists on it
	elfNoteOffset   = elfHeaderSize + 2*elfPhdrSize
	elfNoteSize     = 12 + 4 + 4 // Elf64_Nhdr, "Xen\0", 32-bit entry address
	elfSegmentAlign = 0x1000
	elfSegmentOff   = elfSegmentAlign // file offset of the PT_LOAD segment
)

// buildPVHELF wraps the loadable segment seg (memSize bytes in memory, at
// PVHLoadAddress) into an ELF64 x86-64 executable with a PT_NOTE segment
// holding the Xen PHYS32 entry note.
//
// ELF64 rather than ELF32: linux-loader (which Cloud Hypervisor uses to
// load payload.kernel on x86_64) reads an Elf64_Ehdr and refuses any image
// whose e_phentsize is not sizeof(Elf64_Phdr). Linux's own PVH-capable
// vmlinux is an ELF64 with the same note.
func buildPVHELF(seg []byte, memSize uint32) []byte {
	le := binary.LittleEndian
	img := make([]byte, elfSegmentOff+len(seg))

	// Elf64_Ehdr
	copy(img, elf.ELFMAG)
	img[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	img[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	img[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	img[elf.EI_OSABI] = byte(elf.ELFOSABI_NONE)
	le.PutUint16(img[16:], uint16(elf.ET_EXEC))   // e_type
	le.PutUint16(img[18:], uint16(elf.EM_X86_64)) // e_machine
	le.PutUint32(img[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(img[24:], PVHEntryAddress) // e_entry (linux-loader: must be >= 1 MiB)
	le.PutUint64(img[32:], elfHeaderSize)   // e_phoff
	le.PutUint64(img[40:], 0)               // e_shoff: no section headers
	le.PutUint32(img[48:], 0)               // e_flags
	le.PutUint16(img[52:], elfHeaderSize)   // e_ehsize
	le.PutUint16(img[54:], elfPhdrSize)     // e_phentsize
	le.PutUint16(img[56:], 2)               // e_phnum
	le.PutUint16(img[58:], 64)              // e_shentsize
	le.PutUint16(img[60:], 0)               // e_shnum
	le.PutUint16(img[62:], 0)               // e_shstrndx

	// Program header 0: PT_LOAD, the whole guest, read/write/execute.
	ph := img[elfHeaderSize:]
	le.PutUint32(ph[0:], uint32(elf.PT_LOAD))
	le.PutUint32(ph[4:], uint32(elf.PF_R|elf.PF_W|elf.PF_X))
	le.PutUint64(ph[8:], elfSegmentOff)   // p_offset
	le.PutUint64(ph[16:], PVHLoadAddress) // p_vaddr
	le.PutUint64(ph[24:], PVHLoadAddress) // p_paddr: where linux-loader copies it
	le.PutUint64(ph[32:], uint64(len(seg)))
	le.PutUint64(ph[40:], uint64(memSize))
	le.PutUint64(ph[48:], elfSegmentAlign)

	// Program header 1: PT_NOTE. linux-loader aligns n_namesz and n_descsz
	// to p_align while walking notes, so p_align must be 4.
	ph = img[elfHeaderSize+elfPhdrSize:]
	le.PutUint32(ph[0:], uint32(elf.PT_NOTE))
	le.PutUint32(ph[4:], uint32(elf.PF_R))
	le.PutUint64(ph[8:], elfNoteOffset)
	le.PutUint64(ph[16:], 0)
	le.PutUint64(ph[24:], 0)
	le.PutUint64(ph[32:], elfNoteSize)
	le.PutUint64(ph[40:], elfNoteSize)
	le.PutUint64(ph[48:], 4)

	// The note: Elf64_Nhdr{namesz 4, descsz 4, type 18}, "Xen\0", entry.
	n := img[elfNoteOffset:]
	le.PutUint32(n[0:], 4)
	le.PutUint32(n[4:], 4)
	le.PutUint32(n[8:], XenElfnotePhys32Entry)
	copy(n[12:], "Xen\x00")
	le.PutUint32(n[16:], PVHEntryAddress)

	copy(img[elfSegmentOff:], seg)
	return img
}

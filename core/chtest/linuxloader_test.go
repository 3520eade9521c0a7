package chtest

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// loadLikeLinuxLoader loads an ELF kernel into mem (guest-physical address
// 0 at mem[0]) the way Cloud Hypervisor does on x86_64 for payload.kernel:
// linux-loader's Elf::load (src/loader/x86_64/elf/mod.rs) with no kernel
// offset and highmem start HIGH_RAM_START (1 MiB), then vmm/src/vm.rs
// load_kernel, which requires a PVH entry (else KernelMissingPvhHeader).
// It mirrors that code's checks, including its quirks (Elf64 only, notes
// walked with the PT_NOTE's p_align), and returns the PVH entry point.
func loadLikeLinuxLoader(image, mem []byte) (uint32, error) {
	le := binary.LittleEndian
	if len(image) < elfHeaderSize {
		return 0, errors.New("ReadElfHeader: image shorter than Elf64_Ehdr")
	}
	if string(image[:4]) != "\x7fELF" {
		return 0, errors.New("InvalidElfMagicNumber")
	}
	if image[5] != 1 {
		return 0, errors.New("BigEndianElfOnLittle")
	}
	phentsize := le.Uint16(image[54:])
	phoff := le.Uint64(image[32:])
	phnum := int(le.Uint16(image[56:]))
	entry := le.Uint64(image[24:])
	if phentsize != elfPhdrSize {
		return 0, fmt.Errorf("InvalidProgramHeaderSize: e_phentsize %d, want %d (an ELF32 image)", phentsize, elfPhdrSize)
	}
	if phoff < elfHeaderSize {
		return 0, errors.New("InvalidProgramHeaderOffset")
	}
	if entry < chHighRAMStart {
		return 0, fmt.Errorf("InvalidEntryAddress: e_entry %#x below HIGH_RAM_START %#x", entry, chHighRAMStart)
	}
	pvhEntry, havePVH := uint32(0), false
	for i := range phnum {
		at := phoff + uint64(i)*elfPhdrSize
		if at+elfPhdrSize > uint64(len(image)) {
			return 0, errors.New("ReadProgramHeader: past the end of the image")
		}
		ph := image[at:]
		typ := le.Uint32(ph[0:])
		offset, paddr := le.Uint64(ph[8:]), le.Uint64(ph[24:])
		filesz, align := le.Uint64(ph[32:]), le.Uint64(ph[48:])
		const ptLoad, ptNote = 1, 4
		if typ != ptLoad || filesz == 0 {
			if typ == ptNote {
				e, ok, err := parsePVHNote(image, offset, filesz, align)
				if err != nil {
					return 0, err
				}
				pvhEntry, havePVH = e, ok // linux-loader keeps the last PT_NOTE's answer
			}
			continue
		}
		if offset+filesz > uint64(len(image)) {
			return 0, errors.New("ReadKernelImage: segment past the end of the image")
		}
		if paddr+filesz > uint64(len(mem)) {
			return 0, fmt.Errorf("ReadKernelImage: segment at %#x+%#x outside guest memory", paddr, filesz)
		}
		copy(mem[paddr:], image[offset:offset+filesz])
	}
	if !havePVH {
		return 0, errors.New("KernelMissingPvhHeader: no XEN_ELFNOTE_PHYS32_ENTRY note")
	}
	return pvhEntry, nil
}

// parsePVHNote is linux-loader's parse_elf_note.
func parsePVHNote(image []byte, offset, filesz, align uint64) (uint32, bool, error) {
	le := binary.LittleEndian
	alignUp := func(v uint64) (uint64, error) {
		if align == 0 || align&(align-1) != 0 {
			return 0, errors.New("Align: PT_NOTE p_align is not a power of two")
		}
		return (v + align - 1) &^ (align - 1), nil
	}
	read := uint64(0)
	for read < filesz {
		at := offset + read
		if at+12 > uint64(len(image)) {
			return 0, false, errors.New("ReadNoteHeader")
		}
		namesz, descsz, typ := le.Uint32(image[at:]), le.Uint32(image[at+4:]), le.Uint32(image[at+8:])
		if typ == XenElfnotePhys32Entry && namesz == 4 && string(image[at+12:at+16]) == "Xen\x00" {
			nameEnd, err := alignUp(uint64(namesz))
			if err != nil {
				return 0, false, err
			}
			if descsz < 4 {
				return 0, false, errors.New("InvalidPvhNote: descriptor shorter than 4 bytes")
			}
			return le.Uint32(image[at+12+nameEnd:]), true, nil
		}
		n, err := alignUp(uint64(namesz))
		if err != nil {
			return 0, false, err
		}
		d, err := alignUp(uint64(descsz))
		if err != nil {
			return 0, false, err
		}
		read += 12 + n + d
	}
	return 0, false, nil
}

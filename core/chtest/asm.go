package chtest

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// assembler collects hand-encoded 32-bit x86 machine code for the PVH guest.
// Each instruction is added with [assembler.ins], which takes the
// instruction's assembly text (its documentation, and the listing) and its
// encoding: opcode and ModR/M bytes as ints, immediates as [imm16]/[imm32],
// and label references as [abs32], [rel8] or [rel32], filled in by link.
type assembler struct {
	base    uint32            // guest-physical address of buf[0]
	buf     []byte            // bytes emitted so far
	labels  map[string]uint32 // label name -> guest-physical address
	fixups  []fixup           // label references to resolve in link
	listing []listed          // one entry per instruction, for debugging
}

// Encoding parts accepted by assembler.ins besides int (one byte).
type (
	imm16 uint16 // little-endian 16-bit immediate
	imm32 uint32 // little-endian 32-bit immediate
	abs32 string // 32-bit absolute address of a label
	rel8  string // 8-bit displacement to a label, from the end of the instruction
	rel32 string // 32-bit displacement to a label, from the end of the instruction
)

// fixup is a label reference at buf[at:] whose value is filled in by link.
type fixup struct {
	at    int // offset in buf of the field
	end   int // offset in buf just past the instruction (relative kinds)
	label string
	size  int  // 1 or 4
	rel   bool // displacement (true) or absolute address (false)
}

// listed is one assembled instruction.
type listed struct {
	addr uint32
	at   int // offset in buf
	text string
}

func newAssembler(base uint32) *assembler {
	return &assembler{base: base, labels: map[string]uint32{}}
}

// pc is the guest-physical address of the next emitted byte.
func (a *assembler) pc() uint32 { return a.base + uint32(len(a.buf)) }

// label defines name at the current address.
func (a *assembler) label(name string) { a.define(name, a.pc()) }

// define sets label name to addr.
func (a *assembler) define(name string, addr uint32) {
	if _, dup := a.labels[name]; dup {
		panic("chtest: duplicate guest label " + name)
	}
	a.labels[name] = addr
}

// ins emits one instruction: text is its assembly, parts its encoding.
func (a *assembler) ins(text string, parts ...any) {
	a.listing = append(a.listing, listed{addr: a.pc(), at: len(a.buf), text: text})
	start := len(a.buf)
	var refs []fixup
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			if v < 0 || v > 0xff {
				panic(fmt.Sprintf("chtest: %q: byte %#x out of range", text, v))
			}
			a.buf = append(a.buf, byte(v))
		case imm16:
			a.buf = binary.LittleEndian.AppendUint16(a.buf, uint16(v))
		case imm32:
			a.buf = binary.LittleEndian.AppendUint32(a.buf, uint32(v))
		case abs32:
			refs = append(refs, fixup{at: len(a.buf), label: string(v), size: 4})
			a.buf = append(a.buf, 0, 0, 0, 0)
		case rel32:
			refs = append(refs, fixup{at: len(a.buf), label: string(v), size: 4, rel: true})
			a.buf = append(a.buf, 0, 0, 0, 0)
		case rel8:
			refs = append(refs, fixup{at: len(a.buf), label: string(v), size: 1, rel: true})
			a.buf = append(a.buf, 0)
		default:
			panic(fmt.Sprintf("chtest: %q: unsupported encoding part %T", text, p))
		}
	}
	if len(a.buf) == start {
		panic(fmt.Sprintf("chtest: %q: no encoding", text))
	}
	for _, r := range refs {
		r.end = len(a.buf)
		a.fixups = append(a.fixups, r)
	}
}

// data emits raw data bytes (not an instruction).
func (a *assembler) data(b ...byte) { a.buf = append(a.buf, b...) }

// data16 and data32 emit little-endian data words.
func (a *assembler) data16(v uint16) { a.buf = binary.LittleEndian.AppendUint16(a.buf, v) }
func (a *assembler) data32(v uint32) { a.buf = binary.LittleEndian.AppendUint32(a.buf, v) }
func (a *assembler) data64(v uint64) { a.buf = binary.LittleEndian.AppendUint64(a.buf, v) }

// dataAddr32 emits the 32-bit address of label as data.
func (a *assembler) dataAddr32(label string) {
	a.fixups = append(a.fixups, fixup{at: len(a.buf), label: label, size: 4})
	a.buf = append(a.buf, 0, 0, 0, 0)
}

// align pads with zero bytes to a multiple of n.
func (a *assembler) align(n int) {
	for len(a.buf)%n != 0 {
		a.buf = append(a.buf, 0)
	}
}

// addr returns the address of a defined label.
func (a *assembler) addr(label string) uint32 {
	v, ok := a.labels[label]
	if !ok {
		panic("chtest: undefined guest label " + label)
	}
	return v
}

// link resolves every label reference and returns the finished bytes.
func (a *assembler) link() ([]byte, error) {
	for _, f := range a.fixups {
		target, ok := a.labels[f.label]
		if !ok {
			return nil, fmt.Errorf("guest code refers to undefined label %q", f.label)
		}
		v := int64(target)
		if f.rel {
			v -= int64(a.base) + int64(f.end)
		}
		switch {
		case f.size == 4:
			binary.LittleEndian.PutUint32(a.buf[f.at:], uint32(v))
		case v < -128 || v > 127:
			return nil, fmt.Errorf("guest code: short branch to %q spans %d bytes, out of rel8 range", f.label, v)
		default:
			a.buf[f.at] = byte(int8(v))
		}
	}
	return a.buf, nil
}

// String is the assembly listing: address, bytes and text of each
// instruction (after link, with resolved references).
func (a *assembler) String() string {
	var sb strings.Builder
	for i, l := range a.listing {
		end := len(a.buf)
		if i+1 < len(a.listing) {
			end = a.listing[i+1].at
		}
		if l.text == "" {
			continue
		}
		fmt.Fprintf(&sb, "%08x  % -24x  %s\n", l.addr, a.buf[l.at:end], l.text)
	}
	return sb.String()
}

// endCode marks the end of the instructions, so that the listing does not
// show the data that follows as part of the last instruction.
func (a *assembler) endCode() {
	a.listing = append(a.listing, listed{addr: a.pc(), at: len(a.buf)})
}

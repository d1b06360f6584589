// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Go's crypto/tls in an executable: file offsets for uprobes at (*Conn).Write's and Read's
 * entries and at each of Read's RET instructions (src/kernel/go_tls.bpf.h). Go links its TLS
 * statically and production builds are often stripped (-ldflags=-s), so the names come from the
 * function table every Go program keeps for its own stack traces (.gopclntab, Go 1.18 and
 * later), not from the symbol table.
 *
 * Entries point past the stack-growth check that opens every Go function: when the stack must
 * grow, the function is entered twice (once before runtime.morestack copies the stack, once
 * after), and a probe at its first byte would see one Write twice. Nothing is probed unless its
 * bytes are a known prologue or an epilogue the function table confirms: a uprobe in the middle
 * of an instruction would corrupt the program.
 */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "go_tls.h"

#define PCLN_GO118 0xfffffff0u /* Go 1.18, 1.19 */
#define PCLN_GO120 0xfffffff1u /* Go 1.20 and later: the same layout */

static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* File offset of a virtual address, through the loadable segments. */
static int va_to_off(Elf *e, uint64_t va, uint64_t *off)
{
	size_t n;
	if (elf_getphdrnum(e, &n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (va >= ph.p_vaddr && va < ph.p_vaddr + ph.p_filesz) {
			*off = va - ph.p_vaddr + ph.p_offset;
			return 0;
		}
	}
	return -1;
}

/*
 * Length of the stack check that opens a Go function on amd64, or 0 if the bytes are not one:
 *   cmp 0x10(%r14),%rsp                      49 3b 66 10
 *   (large frames) lea -N(%rsp),%r12; cmp 0x10(%r14),%r12
 *                                            4c 8d 64 24 NN | 4c 8d a4 24 NNNNNNNN ; 4d 3b 66 10
 *   then jbe to morestack                    76 NN | 0f 86 NNNNNNNN
 */
static unsigned prologue_len(const uint8_t *p, size_t avail)
{
	unsigned i = 0;
	if (avail < 20)
		return 0;
	if (p[0] == 0x4c && p[1] == 0x8d && p[2] == 0x64 && p[3] == 0x24)
		i = 5;
	else if (p[0] == 0x4c && p[1] == 0x8d && p[2] == 0xa4 && p[3] == 0x24)
		i = 8;
	if (i) {
		if (!(p[i] == 0x4d && p[i + 1] == 0x3b && p[i + 2] == 0x66 && p[i + 3] == 0x10))
			return 0;
	} else if (!(p[0] == 0x49 && p[1] == 0x3b && p[2] == 0x66 && p[3] == 0x10)) {
		return 0;
	}
	i += 4;
	if (p[i] == 0x76)
		return i + 2;
	if (p[i] == 0x0f && p[i + 1] == 0x86)
		return i + 6;
	return 0;
}

/* LEB128, as the function table's value tables are written. */
static int uvarint(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
	uint32_t r = 0;
	for (unsigned shift = 0; *p < end && shift < 35; shift += 7) {
		uint8_t b = *(*p)++;
		r |= (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

/* The stack pointer's offset from the function's entry at pc, from its pcsp table, and
 * whether pc starts a range of the table (where an instruction changed the offset). */
static int pcsp_at(const uint8_t *p, const uint8_t *end, uint64_t entry, uint64_t pc, int32_t *val, int *starts)
{
	int32_t v = -1;
	uint64_t at = entry;
	for (int first = 1;; first = 0) {
		uint32_t uv, dpc;
		if (uvarint(&p, end, &uv) || (uv == 0 && !first))
			return -1;
		v += (uv & 1) ? ~(int32_t)(uv >> 1) : (int32_t)(uv >> 1);
		if (uvarint(&p, end, &dpc) || dpc == 0)
			return -1;
		if (pc < at + dpc) {
			*val = v;
			*starts = pc == at;
			return 0;
		}
		at += dpc;
	}
}

struct go_func {
	uint64_t va, end;   /* entry and end addresses */
	const uint8_t *pcsp; /* its stack-offset table */
};

/* crypto/tls.(*Conn).Write and Read in the function table: pairs of (entry offset from the
 * text start, offset of the function's record), sorted, with the text's end after the last. */
static int find_funcs(const uint8_t *tab, size_t size, uint64_t text_addr, struct go_func f[2])
{
	static const char *const names[2] = { "crypto/tls.(*Conn).Write", "crypto/tls.(*Conn).Read" };
	if (size < 72)
		return -1;
	uint32_t magic = rd32(tab);
	if ((magic != PCLN_GO118 && magic != PCLN_GO120) || tab[4] || tab[5] || tab[7] != 8)
		return -1;
	uint64_t nfunc = rd64(tab + 8);
	uint64_t text = rd64(tab + 24); /* 0 in some position-independent builds */
	uint64_t nameoff = rd64(tab + 32), pctaboff = rd64(tab + 56), pclnoff = rd64(tab + 64);
	if (!text)
		text = text_addr;
	/* nfunc entries and the end's: (nfunc + 1) pairs of 4-byte numbers */
	if (pclnoff >= size || nameoff >= size || pctaboff >= size || nfunc + 1 > (size - pclnoff) / 8)
		return -1;
	const uint8_t *ftab = tab + pclnoff;
	int found = 0;
	for (uint64_t i = 0; i < nfunc && found < 2; i++) {
		uint32_t entry = rd32(ftab + i * 8), fo = rd32(ftab + i * 8 + 4);
		if (pclnoff + (uint64_t)fo + 20 > size)
			continue;
		const uint8_t *fn = ftab + fo;
		int32_t no = (int32_t)rd32(fn + 4);
		if (no < 0 || nameoff + (uint64_t)no >= size)
			continue;
		const char *name = (const char *)tab + nameoff + no;
		size_t room = size - nameoff - (size_t)no;
		for (int k = 0; k < 2; k++) {
			size_t len = strlen(names[k]) + 1;
			if (f[k].va || room < len || memcmp(name, names[k], len) != 0)
				continue;
			uint32_t pcsp = rd32(fn + 16);
			if (pctaboff + pcsp >= size)
				return -1;
			f[k].va = text + entry;
			f[k].end = text + rd32(ftab + (i + 1) * 8);
			f[k].pcsp = tab + pctaboff + pcsp;
			found++;
		}
	}
	return found == 2 ? 0 : -1;
}

/*
 * The RET instructions of a function. Its frame is made right after the stack check, as
 * "sub $frame,%rsp" (Go 1.18-1.2x) or "push %rbp; mov %rsp,%rbp; sub $frame,%rsp" (newer), and
 * every epilogue undoes it: "add $frame,%rsp; ret" or "add $frame,%rsp; pop %rbp; ret". A
 * match counts only if the pcsp table agrees: the stack offset just before the ret is the frame
 * (or the saved %rbp's 8 bytes), and 0 from the ret on, in a range starting there. Bytes inside
 * another instruction would not pass that.
 */
static int find_rets(const uint8_t *code, uint64_t va, uint64_t end, unsigned prologue,
		     const uint8_t *pcsp, const uint8_t *tab_end, uint64_t *rets, int max)
{
	const uint8_t *p = code + prologue;
	uint64_t size = end - va;
	uint32_t frame;
	unsigned setup = 0;
	int pushed = 0;
	if (prologue + 12 > size)
		return -1;
	if (p[0] == 0x55 && p[1] == 0x48 && p[2] == 0x89 && p[3] == 0xe5) {
		pushed = 1;
		setup = 4;
	}
	if (p[setup] == 0x48 && p[setup + 1] == 0x83 && p[setup + 2] == 0xec) {
		frame = p[setup + 3];
		setup += 4;
	} else if (p[setup] == 0x48 && p[setup + 1] == 0x81 && p[setup + 2] == 0xec) {
		frame = rd32(p + setup + 3);
		setup += 7;
	} else {
		return -1;
	}
	int n = 0;
	for (uint64_t i = prologue + setup; i + 1 < size; i++) {
		if (code[i] != 0xc3 || (pushed && code[i - 1] != 0x5d))
			continue;
		uint64_t a = i - (uint64_t)pushed; /* where the add ends */
		int ok = 0;
		if (a >= 4 && code[a - 4] == 0x48 && code[a - 3] == 0x83 && code[a - 2] == 0xc4 && code[a - 1] == frame && frame < 0x80)
			ok = 1;
		else if (a >= 7 && code[a - 7] == 0x48 && code[a - 6] == 0x81 && code[a - 5] == 0xc4 && rd32(code + a - 4) == frame)
			ok = 1;
		if (!ok)
			continue;
		int32_t before, at;
		int s_before, s_at;
		if (pcsp_at(pcsp, tab_end, va, va + i - 1, &before, &s_before) ||
		    pcsp_at(pcsp, tab_end, va, va + i, &at, &s_at) || at != 0 || !s_at ||
		    before != (pushed ? 8 : (int32_t)frame))
			continue;
		if (n == max)
			return -1;
		rets[n++] = va + i;
	}
	return n ? n : -1;
}

int go_tls_find(const char *path, struct go_tls_offsets *out)
{
	int rc = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	elf_version(EV_CURRENT);
	/* Read, not mapped: a private mapping of an executable file counts as one the kernel puts
	 * uprobes in, so with another tool's probes on the file (a second agent, bpftrace) the code
	 * seen here had their int3 bytes in it and was not recognised. */
	Elf *e = elf_begin(fd, ELF_C_READ, NULL);
	GElf_Ehdr eh;
	size_t shstr;
	if (!e || !gelf_getehdr(e, &eh) || eh.e_machine != EM_X86_64 || elf_getshdrstrndx(e, &shstr))
		goto out;
	Elf_Scn *scn = NULL, *pcln = NULL, *text = NULL;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh))
			continue;
		const char *n = elf_strptr(e, shstr, sh.sh_name);
		if (!n)
			continue;
		size_t l = strlen(n);
		/* ".gopclntab", or ".data.rel.ro.gopclntab" when position-independent */
		if (l >= 9 && strcmp(n + l - 9, "gopclntab") == 0 && sh.sh_type == SHT_PROGBITS)
			pcln = scn;
		else if (strcmp(n, ".text") == 0)
			text = scn;
	}
	if (!pcln || !text)
		goto out;
	GElf_Shdr tsh;
	Elf_Data *pd = elf_getdata(pcln, NULL), *td = elf_getdata(text, NULL);
	if (!pd || !td || !pd->d_buf || !td->d_buf || !gelf_getshdr(text, &tsh))
		goto out;
	struct go_func f[2] = {};
	const uint8_t *tab = pd->d_buf;
	if (find_funcs(tab, pd->d_size, tsh.sh_addr, f))
		goto out;
	rc = GO_TLS_UNREADABLE; /* Go with crypto/tls from here: failing is worth a note */
	unsigned pro[2];
	for (int k = 0; k < 2; k++) {
		if (f[k].va < tsh.sh_addr || f[k].end <= f[k].va || f[k].end - tsh.sh_addr > td->d_size)
			goto out;
		pro[k] = prologue_len((const uint8_t *)td->d_buf + (f[k].va - tsh.sh_addr), f[k].end - f[k].va);
		if (!pro[k])
			goto out;
	}
	uint64_t rets[GO_TLS_MAX_RETS];
	int nrets = find_rets((const uint8_t *)td->d_buf + (f[1].va - tsh.sh_addr), f[1].va, f[1].end, pro[1],
			      f[1].pcsp, tab + pd->d_size, rets, GO_TLS_MAX_RETS);
	if (nrets < 0 || va_to_off(e, f[0].va + pro[0], &out->write_off) || va_to_off(e, f[1].va + pro[1], &out->read_off))
		goto out;
	for (int i = 0; i < nrets; i++)
		if (va_to_off(e, rets[i], &out->read_ret_off[i]))
			goto out;
	out->nrets = nrets;
	rc = 0;
out:
	if (e)
		elf_end(e);
	close(fd);
	return rc;
}


# A boot sector that dirties guest memory at a set rate while leaving its vCPU idle, for
# measuring migrations without guests that spin: every tick of the PC's timer (PIT channel 0
# set to 100 Hz) it writes the first BYTES bytes of the next PAGES 4 KiB pages of [START,
# END), wrapping round, then halts until the next tick. The rate is PAGES × 4 KiB × 100 per
# second. It runs in "unreal" mode: real mode, so that the BIOS timer interrupt wakes it from
# `hlt`, with ES reaching all of memory (a 4 GiB limit loaded in protected mode and kept).
# Parameters (dwords at 0x1d0): START, END, BYTES, PAGES. Counters, as qemu-lab's writer.S
# (dwords at 0x1f0 and 0x1f4 of the sector's copy at 0x7c00): passes over the range, and the
# page being written. Assemble: as --32, ld -Ttext 0x7c00 --oformat binary.
        .code16
        .globl _start
_start:
        cli
        xor     %ax, %ax
        mov     %ax, %ds
        mov     %ax, %ss
        mov     $0x7000, %sp
        in      $0x92, %al              # fast A20 gate: addresses above 1 MiB
        or      $2, %al
        out     %al, $0x92
        lgdtl   gdt_desc
        mov     %cr0, %eax
        or      $1, %eax
        mov     %eax, %cr0
        mov     $0x08, %bx              # a flat data segment: ES's limit becomes 4 GiB
        mov     %bx, %es
        and     $0xfe, %al
        mov     %eax, %cr0
        xor     %ax, %ax
        mov     %ax, %es                # base 0 again; the 4 GiB limit stays
        mov     $0x34, %al              # PIT channel 0, rate generator, 100 Hz
        out     %al, $0x43
        mov     $11932, %ax
        out     %al, $0x40
        mov     %ah, %al
        out     %al, $0x40
        sti
        cld
        movl    start, %edx
tick:
        movl    pages, %esi
page:
        movl    %edx, %edi
        movl    passes, %eax
        inc     %al                     # never 0: a written page is never a zero page
        jnz     2f
        inc     %al
2:
        movl    bytes, %ecx
        addr32 rep stosb
        addl    $4096, %edx
        cmpl    end, %edx
        jb      1f
        movl    start, %edx
        incl    passes
1:
        movl    %edx, current
        decl    %esi
        jnz     page
        hlt
        jmp     tick

        .p2align 3
gdt:    .quad   0
        .quad   0x008f92000000ffff      # data, base 0, limit 4 GiB, 16-bit
gdt_desc:
        .word   gdt_desc - gdt - 1
        .long   gdt

        .org    0x1d0
start:  .long   0
end:    .long   0
bytes:  .long   0
pages:  .long   0

        .org    0x1f0
passes: .long   0
current: .long  0

        .org    510
        .word   0xaa55

# A boot sector that keeps re-writing guest memory, for measuring migrations of a guest whose
# pages are dirtied again and again (XBZRLE, non-convergence). It switches to 32-bit protected
# mode and, pass after pass, writes the pass number into the first BYTES bytes of every 4 KiB
# page of [START, END), spinning DELAY iterations of a `loop` after each page to set the rate
# (not `pause`, which makes KVM exit to the host under pause-loop exiting). After LIMIT passes
# (never if 0) it halts, leaving non-zero pages it no longer dirties. lab.py patches the five
# parameters (dwords at 0x1d0) and reads the pass count and the page being written (0x1f0 and
# 0x1f4 of the sector's copy at 0x7c00) to measure the rate. Assemble: as --32, ld -Ttext
# 0x7c00 --oformat binary.
        .code16
        .globl _start
_start:
        cli
        xor     %ax, %ax
        mov     %ax, %ds
        mov     %ax, %ss
        in      $0x92, %al              # fast A20 gate: addresses above 1 MiB
        or      $2, %al
        out     %al, $0x92
        lgdtl   gdt_desc
        mov     %cr0, %eax
        or      $1, %eax
        mov     %eax, %cr0
        ljmpl   $0x08, $protected
        .code32
protected:
        mov     $0x10, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     $0x7000, %esp
        cld
pass:
        incl    passes
        mov     passes, %ebx
        mov     start, %edx
page:
        mov     %edx, %edi
        mov     %bl, %al
        mov     bytes, %ecx
        rep stosb
        mov     delay, %ecx
        jecxz   next
spin:
        loop    spin
next:
        add     $4096, %edx
        mov     %edx, current
        cmp     end, %edx
        jb      page
        mov     passes, %eax
        cmp     limit, %eax             # a pass limit of 0 writes for ever
        jne     pass
        cmpl    $0, limit
        je      pass
idle:
        hlt                             # interrupts are off: the vCPU stays halted
        jmp     idle

        .p2align 3
gdt:
        .quad   0
        .quad   0x00cf9a000000ffff      # flat 4 GiB code
        .quad   0x00cf92000000ffff      # flat 4 GiB data
gdt_desc:
        .word   gdt_desc - gdt - 1
        .long   gdt

        .org    0x1d0
start:  .long   0x01000000
end:    .long   0x02000000
bytes:  .long   1
delay:  .long   0
limit:  .long   0
        .org    0x1f0
passes: .long   0
current: .long  0
        .org    510
        .word   0xaa55

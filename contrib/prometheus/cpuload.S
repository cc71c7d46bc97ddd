# A boot sector that loads its vCPU in a known square wave, for checking that CPU load
# read back from monitoring is the load the guest made: BUSY BIOS ticks of spinning, then
# IDLE ticks halted (`hlt`, so the vCPU thread sleeps), over and over. The BIOS timer
# interrupt counts ticks at 18.2065 Hz (1193182 / 65536, the PC's PIT) into the word at
# 0x46c. BUSY = 0 halts for good. The test patches both words (0x1d0 and 0x1d2).
# Assemble: as --32, ld -Ttext 0x7c00 --oformat binary.
        .code16
        .globl _start
_start:
        cli
        xor     %ax, %ax
        mov     %ax, %ds
        mov     %ax, %ss
        mov     $0x7000, %sp
        sti
cycle:
        mov     busy, %cx
        jcxz    forever
        mov     0x46c, %dx
        add     %cx, %dx
spin:
        cmp     0x46c, %dx
        jne     spin
        mov     idle, %cx
        jcxz    cycle
        mov     0x46c, %dx
        add     %cx, %dx
rest:
        hlt
        cmp     0x46c, %dx
        jne     rest
        jmp     cycle
forever:
        hlt
        jmp     forever

        .org    0x1d0
busy:   .word   0
idle:   .word   0

        .org    510
        .word   0xaa55

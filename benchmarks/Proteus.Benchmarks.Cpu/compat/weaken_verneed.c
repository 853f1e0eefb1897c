// weaken_verneed FILE VERSION: marks every reference to symbol version VERSION in FILE's
// .gnu.version_r (ELF64, little-endian) as weak (VER_FLG_WEAK), in place. The dynamic loader then
// accepts the library although no loaded object defines VERSION; symbols bound to it are resolved
// from whatever object defines them (here the glibcxx_compat.so shim). See ../README.md.
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv)
{
    if (argc != 3)
    {
        fprintf(stderr, "usage: %s FILE VERSION\n", argv[0]);
        return 2;
    }
    FILE* file = fopen(argv[1], "r+b");
    if (!file)
    {
        perror(argv[1]);
        return 1;
    }
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    unsigned char* image = malloc((size_t)size);
    if (!image || fread(image, 1, (size_t)size, file) != (size_t)size)
    {
        fprintf(stderr, "%s: cannot read\n", argv[1]);
        return 1;
    }
    const Elf64_Ehdr* header = (const Elf64_Ehdr*)image;
    if (size < (long)sizeof(Elf64_Ehdr) || memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 ||
        header->e_ident[EI_CLASS] != ELFCLASS64 || header->e_ident[EI_DATA] != ELFDATA2LSB)
    {
        fprintf(stderr, "%s: not a little-endian ELF64 file\n", argv[1]);
        return 1;
    }
    const Elf64_Shdr* sections = (const Elf64_Shdr*)(image + header->e_shoff);
    int found = 0, changed = 0;
    for (int s = 0; s < header->e_shnum; s++)
    {
        if (sections[s].sh_type != SHT_GNU_verneed)
        {
            continue;
        }
        const char* strings = (const char*)(image + sections[sections[s].sh_link].sh_offset);
        unsigned char* entry = image + sections[s].sh_offset;
        for (;;)
        {
            Elf64_Verneed* need = (Elf64_Verneed*)entry;
            unsigned char* auxEntry = entry + need->vn_aux;
            for (int a = 0; a < need->vn_cnt; a++)
            {
                Elf64_Vernaux* aux = (Elf64_Vernaux*)auxEntry;
                if (strcmp(strings + aux->vna_name, argv[2]) == 0)
                {
                    found++;
                    if (!(aux->vna_flags & VER_FLG_WEAK))
                    {
                        aux->vna_flags |= VER_FLG_WEAK;
                        changed++;
                    }
                    printf("%s: %s required from %s: %s\n", argv[1], argv[2], strings + need->vn_file,
                           changed ? "now weak" : "already weak");
                }
                auxEntry += aux->vna_next;
            }
            if (need->vn_next == 0)
            {
                break;
            }
            entry += need->vn_next;
        }
    }
    if (!found)
    {
        printf("%s: no reference to %s\n", argv[1], argv[2]);
    }
    else if (changed)
    {
        fseek(file, 0, SEEK_SET);
        if (fwrite(image, 1, (size_t)size, file) != (size_t)size)
        {
            fprintf(stderr, "%s: cannot write\n", argv[1]);
            return 1;
        }
    }
    fclose(file);
    free(image);
    return 0;
}

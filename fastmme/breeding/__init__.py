"""Animal breeding: pedigrees and A⁻¹ (pedigree), genomic G and the single-step H⁻¹ (genomic),
simulated populations (simulate).  Public as fastmme.pedigree, fastmme.genomic, fastmme.breeding_data.
"""

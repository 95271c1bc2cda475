"""A molecule's identity (RDKit): canonical SMILES, InChIKey and Bemis–Murcko scaffold.

The one rule shared by curation (:mod:`pheno_bench.curate`) and the synthetic source, which plants
its biology on the same scaffolds that curation will compute.
"""

from __future__ import annotations

import pandas as pd
from rdkit import Chem, RDLogger
from rdkit.Chem.MolStandardize import rdMolStandardize
from rdkit.Chem.Scaffolds import MurckoScaffold


def standardise_molecules(smiles: pd.Series) -> pd.DataFrame:
    """Canonical SMILES, InChIKey and scaffold for each distinct SMILES.

    smiles: reported SMILES strings (any length, duplicates allowed).
    Returns a frame indexed by the distinct reported SMILES with columns ``smiles``,
    ``inchikey``, ``scaffold`` and ``error`` (None, or why it was rejected).
    """
    RDLogger.DisableLog("rdApp.*")
    chooser = rdMolStandardize.LargestFragmentChooser()
    rows = {}
    for raw in pd.unique(smiles.dropna()):
        mol = Chem.MolFromSmiles(raw)
        if mol is None or mol.GetNumAtoms() == 0:
            rows[raw] = (None, None, None, "SMILES does not parse with RDKit")
            continue
        if "." in raw:
            mol = chooser.choose(mol)
        inchikey = Chem.MolToInchiKey(mol)
        if not inchikey:
            rows[raw] = (None, None, None, "no InChIKey can be computed")
            continue
        rows[raw] = (Chem.MolToSmiles(mol), inchikey, MurckoScaffold.MurckoScaffoldSmiles(mol=mol), None)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["smiles", "inchikey", "scaffold", "error"])

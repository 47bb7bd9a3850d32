"""Differentiable finite elements.

Reference elements and Gauss quadrature; function spaces on a :class:`dmech.geometry.Mesh`;
vectorised assembly into sparse matrices with a static pattern; Dirichlet conditions by
lifting; sparse direct (SuperLU) and jit-able PCG solves differentiated by the adjoint
method; scalar diffusion and linear elasticity (isotropic or any Voigt stiffness field);
finite-strain hyperelasticity from any energy and small-strain history-dependent laws (J2
plasticity, learned laws), solved by Newton with load steps and differentiated through the
converged states by the implicit function theorem.
"""

from ._elements import AbstractElement as AbstractElement
from ._elements import Hex8 as Hex8
from ._elements import Hex20 as Hex20
from ._elements import Line2 as Line2
from ._elements import Line3 as Line3
from ._elements import Quad4 as Quad4
from ._elements import Quad8 as Quad8
from ._elements import Quad9 as Quad9
from ._elements import Tet4 as Tet4
from ._elements import Tet10 as Tet10
from ._elements import Tri3 as Tri3
from ._elements import Tri6 as Tri6
from ._elements import element as element
from ._elements import tabulate as tabulate
from ._hyperelastic import isotropic_invariants as isotropic_invariants
from ._hyperelastic import lame_parameters as lame_parameters
from ._hyperelastic import neo_hookean as neo_hookean
from ._linear import DirichletBC as DirichletBC
from ._linear import LinearElasticResult as LinearElasticResult
from ._linear import apply_dirichlet as apply_dirichlet
from ._linear import diffusion_matrix as diffusion_matrix
from ._linear import elasticity_matrix as elasticity_matrix
from ._linear import external_load as external_load
from ._linear import isotropic_elasticity as isotropic_elasticity
from ._linear import mass_matrix as mass_matrix
from ._linear import solve_linear_elasticity as solve_linear_elasticity
from ._linear import source_vector as source_vector
from ._linear import traction_vector as traction_vector
from ._materials import LearnedLaw as LearnedLaw
from ._materials import j2_initial_state as j2_initial_state
from ._materials import j2_plasticity as j2_plasticity
from ._materials import linear_elastic as linear_elastic
from ._nonlinear import Newton as Newton
from ._nonlinear import NonlinearResult as NonlinearResult
from ._nonlinear import solve_hyperelasticity as solve_hyperelasticity
from ._nonlinear import solve_small_strain as solve_small_strain
from ._plot import plot_field as plot_field
from ._plot import plot_mesh as plot_mesh
from ._post import flux as flux
from ._post import project_to_nodes as project_to_nodes
from ._post import reaction_forces as reaction_forces
from ._post import strain as strain
from ._post import strain_energy as strain_energy
from ._post import stress as stress
from ._post import von_mises as von_mises
from ._quadrature import REFERENCE_MEASURE as REFERENCE_MEASURE
from ._quadrature import gauss_jacobi as gauss_jacobi
from ._quadrature import gauss_legendre as gauss_legendre
from ._quadrature import hexahedron_rule as hexahedron_rule
from ._quadrature import line_rule as line_rule
from ._quadrature import quadrature as quadrature
from ._quadrature import quadrilateral_rule as quadrilateral_rule
from ._quadrature import reference_shape as reference_shape
from ._quadrature import tetrahedron_rule as tetrahedron_rule
from ._quadrature import triangle_rule as triangle_rule
from ._solve import PCG as PCG
from ._solve import AbstractLinearSolver as AbstractLinearSolver
from ._solve import Pardiso as Pardiso
from ._solve import PCGInfo as PCGInfo
from ._solve import SparseLU as SparseLU
from ._solve import linear_solve as linear_solve
from ._solve import pcg as pcg
from ._space import FunctionSpace as FunctionSpace
from ._sparse import SparseMatrix as SparseMatrix
from ._sparse import SparsityPattern as SparsityPattern
from ._sparse import assemble_matrix as assemble_matrix
from ._sparse import assemble_vector as assemble_vector

__all__ = [
    "PCG",
    "REFERENCE_MEASURE",
    "AbstractElement",
    "AbstractLinearSolver",
    "DirichletBC",
    "FunctionSpace",
    "Hex8",
    "Hex20",
    "LearnedLaw",
    "Line2",
    "Line3",
    "LinearElasticResult",
    "Newton",
    "NonlinearResult",
    "PCGInfo",
    "Pardiso",
    "Quad4",
    "Quad8",
    "Quad9",
    "SparseLU",
    "SparseMatrix",
    "SparsityPattern",
    "Tet4",
    "Tet10",
    "Tri3",
    "Tri6",
    "apply_dirichlet",
    "assemble_matrix",
    "assemble_vector",
    "diffusion_matrix",
    "elasticity_matrix",
    "element",
    "external_load",
    "flux",
    "gauss_jacobi",
    "gauss_legendre",
    "hexahedron_rule",
    "isotropic_elasticity",
    "isotropic_invariants",
    "j2_initial_state",
    "j2_plasticity",
    "lame_parameters",
    "line_rule",
    "linear_elastic",
    "linear_solve",
    "mass_matrix",
    "neo_hookean",
    "pcg",
    "plot_field",
    "plot_mesh",
    "project_to_nodes",
    "quadrature",
    "quadrilateral_rule",
    "reaction_forces",
    "reference_shape",
    "solve_hyperelasticity",
    "solve_linear_elasticity",
    "solve_small_strain",
    "source_vector",
    "strain",
    "strain_energy",
    "stress",
    "tabulate",
    "tetrahedron_rule",
    "traction_vector",
    "triangle_rule",
    "von_mises",
]

namespace MusicGen.Kernels;

/// <summary>
/// A matrix operand of a GEMM: <see cref="Rows"/> x <see cref="Cols"/> elements of <see cref="Tensor"/>, stored row-major
/// from element <see cref="Offset"/> with <see cref="Ld"/> elements from one row to the next (the BLAS leading dimension),
/// used as itself or, when <see cref="Transposed"/>, as its transpose. So a time step of a [T,B,H] sequence is
/// <c>MatrixView.RowsOf(h, t * B, B, H)</c>, and W^T of a [4H,I] weight is <c>MatrixView.Of(w, 4 * H, I).T</c>.
///
/// Rows and Cols describe what is stored; <see cref="OpRows"/> and <see cref="OpCols"/> what the product sees. The GEMM
/// checks that the operands' shapes fit together and that each view lies inside its tensor, so a swapped size or
/// leading dimension fails loudly instead of reading the wrong elements.
/// </summary>
public readonly record struct MatrixView(Tensor Tensor, int Offset, int Rows, int Cols, int Ld, bool Transposed = false)
{
    /// <summary>The whole of <paramref name="t"/> as a rows x cols matrix (rows * cols must be its length).</summary>
    public static MatrixView Of(Tensor t, int rows, int cols)
    {
        if ((long)rows * cols != t.Length) throw new ArgumentException($"a {rows}x{cols} matrix is not the whole of tensor {t.ShapeText}");
        return new(t, 0, rows, cols, cols);
    }

    /// <summary>Rows <paramref name="firstRow"/> .. firstRow + rows - 1 of <paramref name="t"/> read as a matrix of <paramref name="cols"/> columns.</summary>
    public static MatrixView RowsOf(Tensor t, int firstRow, int rows, int cols) => new(t, checked(firstRow * cols), rows, cols, cols);

    /// <summary>The same elements used transposed (or no longer transposed).</summary>
    public MatrixView T => this with { Transposed = !Transposed };

    /// <summary>Rows of op(X): what the product sees.</summary>
    public int OpRows => Transposed ? Cols : Rows;
    /// <summary>Columns of op(X).</summary>
    public int OpCols => Transposed ? Rows : Cols;

    /// <summary>Elements from Offset to the last one the view covers (0 for an empty matrix).</summary>
    public int Span
    {
        get
        {
            if (Rows == 0 || Cols == 0) return 0;
            if (Ld < Cols) throw new ArgumentException($"leading dimension {Ld} is smaller than the row length {Cols}");
            return checked((Rows - 1) * Ld + Cols);
        }
    }

    public override string ToString() => $"{(Transposed ? "T" : "")}[{Rows}x{Cols} ld {Ld} at {Offset} of {Tensor.ShapeText}]";
}
